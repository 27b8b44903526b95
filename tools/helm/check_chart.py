"""Offline checks of the Helm chart (charts/kubepve) and the kustomize install (config/default).

Run by `make helm-lint` inside .venv-helm (tools/helm/requirements.txt). It lints the chart with
Helm's own linter, renders it for the settings users pick (defaults, one watched namespace, two
replicas, ServiceMonitor and NetworkPolicy on, CRDs off), checks what a cluster admin reviews in
the output (security context, probes, exact RBAC rules, leader election, CRDs kept on uninstall
and identical to crds/), and compares the kustomize install with the chart's.

Each check prints one line; the script exits non-zero when any check fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubepve"
RELEASE = "kubepve"
NAMESPACE = "kubepve-system"

# The exact rules the operator needs (see charts/kubepve/README.md, "RBAC"). Anything more is a
# privilege the operator does not use; anything less breaks it.
MANAGER_RULES = [
    {
        "apiGroups": ["kubepve.io"],
        "resources": ["proxmoxconnections", "proxmoxvms", "proxmoxcontainers"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    # ProxmoxVMSets create, replace (template updates) and delete the ProxmoxVMs they own.
    {"apiGroups": ["kubepve.io"], "resources": ["proxmoxvms"], "verbs": ["create", "update", "delete"]},
    # Schedules create and prune the ProxmoxSnapshots they own.
    {
        "apiGroups": ["kubepve.io"],
        "resources": ["proxmoxsnapshotschedules", "proxmoxvmsets"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["kubepve.io"],
        "resources": ["proxmoxsnapshots"],
        "verbs": ["get", "list", "watch", "patch", "create", "delete"],
    },
    {
        "apiGroups": ["kubepve.io"],
        "resources": ["proxmoxsnapshotrestores"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {
        "apiGroups": ["kubepve.io"],
        "resources": [
            "proxmoxconnections/status",
            "proxmoxvms/status",
            "proxmoxcontainers/status",
            "proxmoxsnapshots/status",
            "proxmoxsnapshotschedules/status",
            "proxmoxsnapshotrestores/status",
            "proxmoxvmsets/status",
        ],
        "verbs": ["patch"],
    },
    {
        "apiGroups": ["kubepve.io"],
        "resources": [
            "proxmoxconnections/finalizers",
            "proxmoxvms/finalizers",
            "proxmoxcontainers/finalizers",
            "proxmoxsnapshots/finalizers",
            # blockOwnerDeletion on a set's members needs update on the set's finalizers.
            "proxmoxvmsets/finalizers",
        ],
        "verbs": ["update"],
    },
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]


# Configuration backups: ConfigMaps in the operator's namespace only (a Role there).
BACKUP_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "patch", "delete"]},
]


def check_backup_rbac(docs: list[dict[str, Any]]) -> None:
    role = one(docs, "Role", f"{RELEASE}-config-backups")
    expect(role["metadata"]["namespace"] == NAMESPACE, "the backup Role is in the release namespace")
    expect(role["rules"] == BACKUP_RULES, f"backup Role rules are exactly the needed ones: {role['rules']}")
    binding = one(docs, "RoleBinding", f"{RELEASE}-config-backups")
    expect(binding["roleRef"]["name"] == role["metadata"]["name"], "the backup RoleBinding refers to its Role")
    expect(binding["metadata"]["namespace"] == NAMESPACE, "the backup RoleBinding is in the release namespace")
    env = {e["name"]: e for e in container(docs).get("env", [])}
    expect(
        env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace",
        "POD_NAMESPACE from the downward API (the default backup namespace)",
    )


def lease_rules(lease: str) -> list[dict[str, Any]]:
    return [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "patch", "update"],
        },
    ]


class Failed(Exception):
    pass


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


# ---------------------------------------------------------------------------------------------
# Rendering


def render(values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Every object the chart renders with these values, as a release would install it."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return docs


def render_error(values: dict[str, Any]) -> str:
    try:
        render(values)
    except helm.HelmError as err:
        return str(err)
    raise Failed(f"rendering with {values} succeeded, but it must fail")


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    expect(len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    expect(len(pod["containers"]) == 1, "one container")
    return pod["containers"][0]


def generated_crds() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        out[doc["metadata"]["name"]] = doc
    return out


# ---------------------------------------------------------------------------------------------
# Checks


def check_lint() -> None:
    report = helm.lint(str(CHART), strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + [
        {"error": e} for e in report.get("errors") or []
    ]
    expect(not problems, f"helm lint --strict: {problems}")


def check_security(docs: list[dict[str, Any]]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    expect(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    expect(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] != 0, "numeric non-root runAsUser")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    sc = container(docs)["securityContext"]
    expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    expect(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    res = container(docs)["resources"]
    expect("cpu" in res.get("requests", {}) and "memory" in res.get("requests", {}), "requests cpu+memory")
    expect("memory" in res.get("limits", {}), "memory limit")


def check_probes(docs: list[dict[str, Any]]) -> None:
    c = container(docs)
    port = next(p for p in c["ports"] if p["name"] == "http-metrics")["containerPort"]
    expect(f"--probe-addr=0.0.0.0:{port}" in c["args"], "--probe-addr matches the container port")
    expect(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}, "liveness /healthz")
    expect(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}, "readiness /readyz")
    env = {e["name"]: e for e in c["env"]}
    expect(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", "POD_NAME env")
    expect(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace",
        "POD_NAMESPACE env (the Lease namespace)",
    )
    svc = one(docs, "Service")
    expect(svc["spec"]["ports"][0]["targetPort"] == "http-metrics", "metrics Service targets the probe port")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    expect(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects the pods")


def check_cluster_rbac(docs: list[dict[str, Any]]) -> None:
    role = one(docs, "ClusterRole")
    expect(role["rules"] == MANAGER_RULES, f"ClusterRole rules are exactly the needed ones: {role['rules']}")
    binding = one(docs, "ClusterRoleBinding")
    expect(binding["roleRef"]["name"] == role["metadata"]["name"], "binding refers to the ClusterRole")
    sa = one(docs, "ServiceAccount")
    expect(
        binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}],
        "ClusterRoleBinding binds the operator's ServiceAccount",
    )
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    expect(pod["serviceAccountName"] == sa["metadata"]["name"], "Deployment runs as that ServiceAccount")
    check_leader_election(docs, expected=True)


def check_leader_election(docs: list[dict[str, Any]], expected: bool) -> None:
    args = container(docs)["args"]
    roles = [r for r in find(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    if not expected:
        expect("--leader-elect" not in args and not roles, "no leader election")
        return
    expect("--leader-elect" in args, "--leader-elect is passed")
    lease = next(a.split("=", 1)[1] for a in args if a.startswith("--lease-name="))
    expect(len(roles) == 1, "one leader-election Role")
    expect(roles[0]["metadata"]["namespace"] == NAMESPACE, "the Lease Role is in the release namespace")
    expect(roles[0]["rules"] == lease_rules(lease), f"Lease rules are exactly the needed ones: {roles[0]['rules']}")


def check_crds(docs: list[dict[str, Any]]) -> None:
    crds = {d["metadata"]["name"]: d for d in find(docs, "CustomResourceDefinition")}
    want = generated_crds()
    expect(sorted(crds) == sorted(want), f"the chart installs every CRD: {sorted(crds)}")
    for name, crd in crds.items():
        annotations = crd["metadata"].get("annotations", {})
        expect(annotations.get("helm.sh/resource-policy") == "keep", f"{name} is kept on uninstall")
        expect(crd["spec"] == want[name]["spec"], f"{name}: the chart's spec equals crds/ (run `make generate`)")


def check_defaults() -> list[dict[str, Any]]:
    docs = render()
    check_security(docs)
    check_probes(docs)
    check_cluster_rbac(docs)
    check_backup_rbac(docs)
    check_crds(docs)
    expect(one(docs, "Deployment")["spec"]["replicas"] == 1, "one replica by default")
    expect(not any(a.startswith("--namespace") for a in container(docs)["args"]), "watches every namespace")
    expect(not find(docs, "ServiceMonitor") and not find(docs, "NetworkPolicy"), "optional objects are off")
    for d in docs:
        if d["kind"] in ("Role", "ClusterRole"):
            for rule in d["rules"]:
                for key in ("apiGroups", "resources", "verbs"):
                    expect("*" not in rule.get(key, []), f"{d['metadata']['name']}: no wildcard {key}")
    return docs


def check_watch_namespace() -> None:
    docs = render({"watchNamespaces": ["team-a"]})
    expect("--namespace=team-a" in container(docs)["args"], "--namespace=team-a is passed")
    expect(not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding"), "no cluster-wide RBAC")
    role = one(docs, "Role", f"{RELEASE}-manager")
    expect(role["metadata"]["namespace"] == "team-a", "the manager Role is in the watched namespace")
    expect(role["rules"] == MANAGER_RULES, "the Role has exactly the manager rules")
    binding = one(docs, "RoleBinding", f"{RELEASE}-manager")
    expect(binding["metadata"]["namespace"] == "team-a", "the RoleBinding is in the watched namespace")
    expect(binding["subjects"][0]["namespace"] == NAMESPACE, "it binds the ServiceAccount of the release namespace")
    check_leader_election(docs, expected=True)

    message = render_error({"watchNamespaces": ["team-a", "team-b"]})
    expect("one release per namespace" in message, f"two namespaces fail with a clear message: {message}")


def check_replicas() -> None:
    docs = render({"replicaCount": 2})
    expect(one(docs, "Deployment")["spec"]["replicas"] == 2, "replicas 2")
    check_leader_election(docs, expected=True)
    message = render_error({"replicaCount": 2, "leaderElection": {"enabled": False}})
    expect("leaderElection.enabled is false" in message, f"2 replicas without leader election fail: {message}")
    check_leader_election(render({"leaderElection": {"enabled": False}}), expected=False)


def check_optional_objects() -> None:
    docs = render(
        {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "networkPolicy": {"enabled": True},
        }
    )
    svc = one(docs, "Service")
    sm = one(docs, "ServiceMonitor")
    expect(sm["metadata"]["labels"].get("release") == "prometheus", "ServiceMonitor carries the extra labels")
    expect(
        all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
        "ServiceMonitor selects the metrics Service",
    )
    expect(sm["spec"]["endpoints"][0]["port"] == "http-metrics", "ServiceMonitor scrapes the named port")
    np = one(docs, "NetworkPolicy")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    expect(
        all(pod_labels.get(k) == v for k, v in np["spec"]["podSelector"]["matchLabels"].items()),
        "NetworkPolicy selects the operator pods",
    )
    expect(np["spec"]["ingress"][0]["ports"] == [{"port": "http-metrics", "protocol": "TCP"}], "ingress: metrics only")
    egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    expect({53, 443, 6443, 8006} <= egress_ports, f"egress to DNS, API server, Proxmox: {egress_ports}")

    message = render_error({"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}})
    expect("metrics.service.enabled" in message, f"ServiceMonitor without Service fails clearly: {message}")


def check_crds_off() -> None:
    docs = render({"crds": {"install": False}})
    expect(not find(docs, "CustomResourceDefinition"), "crds.install=false renders no CRD")


def check_schema() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        for bad in ({"replicaCount": "two"}, {"replicaCunt": 2}, {"image": {"pullPolicy": "Sometimes"}}):
            try:
                chart.validate_schema(bad)
            except helm.HelmError:
                continue
            raise Failed(f"values.schema.json accepts {bad}")


def leaf_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("podSecurityContext", "securityContext", "resources"):
            keys += leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def check_readme() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [k for k in leaf_keys(values) if f"`{k}`" not in readme]
    expect(not missing, f"charts/kubepve/README.md documents every value; missing: {missing}")
    schema_keys = set(yaml.safe_load((CHART / "values.schema.json").read_text())["properties"])
    expect(schema_keys == set(values), f"values.schema.json covers exactly the top-level values: {schema_keys ^ set(values)}")


# ---------------------------------------------------------------------------------------------
# kustomize


def kustomize_docs() -> tuple[list[dict[str, Any]], str]:
    """config/default rendered by `kubectl kustomize` when kubectl exists; otherwise the files it
    lists, followed through `resources:` with `namespace:` applied (what our kustomizations use),
    and the returned note says so."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run(
            [kubectl, "kustomize", str(ROOT / "config" / "default")], check=True, capture_output=True, text=True
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d], "kubectl kustomize config/default"
    if os.environ.get("KUBEPVE_REQUIRE_KUBECTL") == "1":
        raise Failed("kubectl is not installed and KUBEPVE_REQUIRE_KUBECTL=1")

    def load(folder: Path, namespace: str | None) -> list[dict[str, Any]]:
        k = yaml.safe_load((folder / "kustomization.yaml").read_text())
        namespace = k.get("namespace", namespace)
        allowed = {"apiVersion", "kind", "resources", "namespace", "labels", "images"}
        expect(set(k) <= allowed, f"{folder}: the fallback loader knows only {allowed}")
        docs = []
        for res in k.get("resources", []):
            path = folder / res
            if path.is_dir():
                docs += load(path, namespace)
            else:
                docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        for image in k.get("images", []):
            for d in docs:
                for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                    if c["image"] == image["name"]:
                        c["image"] = f"{image['newName']}:{image['newTag']}"
        if namespace:
            for d in docs:
                if d["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
                    d["metadata"]["namespace"] = namespace
        return docs

    note = "kubectl not found: compared the files config/default lists (resources followed, namespace applied)"
    return load(ROOT / "config" / "default", None), note


def check_kustomize(chart_docs: list[dict[str, Any]]) -> str:
    docs, how = kustomize_docs()

    def ident(d: dict[str, Any]) -> tuple[str, str, str]:
        return (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace", ""))

    kust = {ident(d) for d in docs if d["kind"] != "Namespace"}
    chart = {ident(d) for d in chart_docs}
    expect(kust == chart, f"same objects as the chart: only kustomize {kust - chart}, only chart {chart - kust}")
    k_crds = {d["metadata"]["name"]: d["spec"] for d in find(docs, "CustomResourceDefinition")}
    expect(k_crds == {n: d["spec"] for n, d in generated_crds().items()}, "kustomize CRDs equal crds/")
    expect(one(docs, "ClusterRole")["rules"] == MANAGER_RULES, "kustomize ClusterRole rules")
    lease_role = one(docs, "Role", "kubepve-leader-election")
    expect(lease_role["rules"] == one(chart_docs, "Role", "kubepve-leader-election")["rules"], "kustomize Lease rules")
    expect(one(docs, "Role", "kubepve-config-backups")["rules"] == BACKUP_RULES, "kustomize backup Role rules")
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in find(chart_docs, kind):
            name = binding["metadata"]["name"]
            expect(one(docs, kind, name)["subjects"] == binding["subjects"], f"kustomize {kind} {name} subjects")
    kpod = one(docs, "Deployment")["spec"]["template"]["spec"]
    cpod = one(chart_docs, "Deployment")["spec"]["template"]["spec"]
    for key in ("serviceAccountName", "securityContext", "terminationGracePeriodSeconds"):
        expect(kpod.get(key) == cpod.get(key), f"kustomize Deployment {key}")
    kc, cc = kpod["containers"][0], cpod["containers"][0]
    for key in ("image", "args", "env", "ports", "livenessProbe", "readinessProbe", "securityContext", "resources"):
        expect(kc.get(key) == cc.get(key), f"kustomize container {key}: {kc.get(key)} != {cc.get(key)}")
    expect(one(docs, "Service")["spec"]["ports"] == one(chart_docs, "Service")["spec"]["ports"], "kustomize Service")
    return how


def main() -> int:
    failures = 0
    chart_docs: list[dict[str, Any]] = []

    def run(name: str, check: Callable[[], Any]) -> Any:
        nonlocal failures
        try:
            result = check()
        except (Failed, helm.HelmError, KeyError, StopIteration, OSError, subprocess.CalledProcessError) as err:
            failures += 1
            print(f"FAIL  {name}: {type(err).__name__}: {err}")
            return None
        extra = f" ({result})" if isinstance(result, str) else ""
        print(f"ok    {name}{extra}")
        return result

    print(f"helm-python-sdk: helm-c {helm.helm_c_version()}, Helm SDK {helm.helm_sdk_version()}")
    run("helm lint --strict", check_lint)
    chart_docs = run("default values: security, probes, cluster RBAC, Lease, CRDs kept and equal to crds/", check_defaults) or []
    run("watchNamespaces: one namespace -> Role there and --namespace; two -> clear failure", check_watch_namespace)
    run("replicaCount 2: leader election on; refused without it", check_replicas)
    run("serviceMonitor and networkPolicy on", check_optional_objects)
    run("crds.install=false", check_crds_off)
    run("values.schema.json rejects bad values", check_schema)
    run("README documents every value", check_readme)
    if chart_docs:
        run("kustomize config/default equals the chart in substance", lambda: check_kustomize(chart_docs))
    total = 9 if chart_docs else 8
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
