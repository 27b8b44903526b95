{{/* Chart name, truncated to 63 characters (a label value). */}}
{{- define "kubepve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: fullnameOverride, or the release name (plus the chart name unless the
release name already contains it). */}}
{{- define "kubepve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubepve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubepve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubepve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubepve.labels" -}}
helm.sh/chart: {{ include "kubepve.chart" . }}
{{ include "kubepve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kubepve
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kubepve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubepve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kubepve.leaseName" -}}
{{- default (printf "%s-leader" (include "kubepve.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The one namespace to watch, or "" for all. Fails on settings the operator cannot honour. */}}
{{- define "kubepve.watchNamespace" -}}
{{- $n := len .Values.watchNamespaces }}
{{- if gt $n 1 }}
{{- fail (printf "watchNamespaces lists %d namespaces (%s), but kubepve watches one namespace per process: install one release per namespace (with crds.install=false in all but one), or leave watchNamespaces empty to watch every namespace" $n (join ", " .Values.watchNamespaces)) }}
{{- end }}
{{- if eq $n 1 }}{{ first .Values.watchNamespaces }}{{ end }}
{{- end }}

{{/* Refuses several replicas without leader election (they would reconcile the same guests). */}}
{{- define "kubepve.checkReplicas" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: several replicas would reconcile the same guests at once; enable leader election or set replicaCount to 1" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}

{{/* The RBAC rules of the operator on its own kinds, Secrets and Events (shared by the
ClusterRole and the per-namespace Role). */}}
{{- define "kubepve.backupRules" -}}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "create", "patch", "delete"]
{{- end }}

{{- define "kubepve.managerRules" -}}
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxconnections", "proxmoxvms", "proxmoxcontainers"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxvms"]
  verbs: ["create", "update", "delete"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxsnapshotschedules", "proxmoxvmsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxsnapshots"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxsnapshotrestores"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxconnections/status", "proxmoxvms/status", "proxmoxcontainers/status", "proxmoxsnapshots/status", "proxmoxsnapshotschedules/status", "proxmoxsnapshotrestores/status", "proxmoxvmsets/status"]
  verbs: ["patch"]
- apiGroups: ["kubepve.io"]
  resources: ["proxmoxconnections/finalizers", "proxmoxvms/finalizers", "proxmoxcontainers/finalizers", "proxmoxsnapshots/finalizers", "proxmoxvmsets/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
