//! `ProxmoxVMSet`: a number of alike ProxmoxVMs made from one template, with a `scale`
//! subresource (`kubectl scale pvmset web --replicas 5`, or an autoscaler).
//!
//! The set owns ProxmoxVM objects named `<set>-<ordinal>` (controller owner references, so a
//! deletion cascades and ArgoCD/Flux show the tree). The members ARE ProxmoxVMs: finalizers,
//! deletionPolicy, conflicts and the rest of the guest semantics are theirs. The template is a
//! ProxmoxVM spec (the same type, never a copy) without `vmid`; members get VMIDs from
//! `vmidRange` (start + ordinal) or from the connection like single VMs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connection::VmidRange;
use crate::selector::GuestSelector;
use crate::vm::ProxmoxVMSpec;

/// Label on every member: the set's name.
pub const SET_LABEL: &str = "kubepve.io/vmset";
/// Label on every member: its ordinal in the set.
pub const ORDINAL_LABEL: &str = "kubepve.io/vmset-ordinal";
/// Label on every member: the hash of the template revision it was made or last updated from.
pub const TEMPLATE_HASH_LABEL: &str = "kubepve.io/template-hash";
/// Longest set name: `<set>-<ordinal>` stays a short DNS label and the name fits a label value
/// (the same bound CronJob names have, for the same reason).
pub const SET_NAME_MAX: usize = 52;

/// A set of alike QEMU virtual machines on Proxmox VE.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "A set of alike ProxmoxVMs made from one template, with a scale subresource, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxVMSet",
    plural = "proxmoxvmsets",
    singular = "proxmoxvmset",
    shortname = "pvmset",
    category = "proxmox",
    namespaced,
    status = "VMSetStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.labelSelector"
    ),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 52").message("a ProxmoxVMSet name has at most 52 characters, so that its members' names (<set>-<ordinal>) and labels stay valid"),
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","jsonPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Updated","type":"integer","priority":1,"jsonPath":".status.updatedReplicas"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("(has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0)").message("selector must not be empty: give matchLabels (or matchExpressions) that the template's labels meet").field_path(".selector"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.selector.matchLabels) || self.selector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])").message("selector.matchLabels must match template.metadata.labels: every selector label needs the same value in the template").field_path(".template.metadata.labels"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.template.spec.deletionPolicy) || self.template.spec.deletionPolicy != 'Orphan'").message("template.spec.deletionPolicy cannot be Orphan: a member made again (scale up after down, a replacement) would meet its orphaned guest at the same VMID and stall as a conflict").field_path(".template.spec.deletionPolicy").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = kube::core::Rule::new("!has(self.template.spec.vmid)").message("template.spec.vmid cannot be set: members get their VMIDs from vmidRange (start + ordinal) or from the connection").field_path(".template.spec.vmid").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = kube::core::Rule::new("!has(self.vmidRange) || self.replicas <= self.vmidRange.end - self.vmidRange.start + 1").message("replicas is larger than vmidRange holds: widen vmidRange or lower replicas").field_path(".replicas"))]
#[x_kube(validation = kube::core::Rule::new("!has(oldSelf.selector) || self.selector == oldSelf.selector").message("selector is immutable: create a new ProxmoxVMSet to select other labels").field_path(".selector").reason(kube::core::Reason::FieldValueForbidden))]
pub struct ProxmoxVMSetSpec {
    /// How many members the set has. `kubectl scale` changes it through the scale subresource.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Which labels the members carry; it must match `template.metadata.labels`, and it is what
    /// the scale subresource reports (`status.labelSelector`). Immutable.
    pub selector: GuestSelector,
    /// What every member is made from.
    pub template: VMTemplate,
    /// VMIDs for the members: member N gets `start + N`. Unset: each member allocates one as a
    /// single ProxmoxVM does (the connection's vmidRange, or Proxmox's next free id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid_range: Option<VmidRange>,
    /// How template changes that need a new guest or a restart reach the members. Changes a
    /// running guest takes live always go to every member at once.
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    /// Which members go first when the set scales down.
    #[serde(default)]
    pub scale_down_policy: ScaleDownPolicy,
}

fn one() -> i32 {
    1
}

/// The template of the members: labels and annotations, and a ProxmoxVM spec without `vmid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VMTemplate {
    /// Labels and annotations every member gets.
    #[serde(default)]
    pub metadata: TemplateMetadata,
    /// The ProxmoxVM spec of every member (without `vmid`).
    pub spec: ProxmoxVMSpec,
}

/// Labels and annotations for the members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels of every member; they must meet the set's selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    // Bounded values keep the CEL rules over them within the API server's cost budget.
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    pub labels: BTreeMap<String, String>,
    /// Annotations of every member.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 4096}))]
    pub annotations: BTreeMap<String, String>,
}

/// How changes that need a new guest or a restart reach the members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.type == 'RollingUpdate' || !has(self.rollingUpdate)").message("rollingUpdate only applies to type RollingUpdate").field_path(".rollingUpdate"))]
pub struct UpdateStrategy {
    /// RollingUpdate (default): a few members at a time, within maxUnavailable. OnDelete: a
    /// member takes such a change only when it is deleted and made again.
    #[serde(default, rename = "type")]
    pub strategy_type: UpdateStrategyType,
    /// Settings of RollingUpdate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

/// The kinds of update strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpdateStrategyType {
    /// Restart or replace members a few at a time.
    #[default]
    RollingUpdate,
    /// Leave members alone until they are deleted.
    OnDelete,
}

/// How many members a rolling update may take down at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdate {
    /// Members that may be unavailable at once during the update: a number (at least 1) or a
    /// percentage of replicas (`1%` to `100%`), rounded down but at least 1. Default 1. Another
    /// value stalls the set (reason InvalidUpdateStrategy) before any member is touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// Which members go first when the set scales down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScaleDownPolicy {
    /// The members with the highest ordinals.
    #[default]
    HighestOrdinal,
    /// Members that are not Ready first (highest ordinal among them first), then the highest
    /// ordinals.
    NotReadyFirst,
}

/// The observed state of a ProxmoxVMSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VMSetStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Members that exist and are not being deleted.
    #[serde(default)]
    pub replicas: i32,
    /// Members whose Ready condition is True.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Members made or updated from the current template.
    #[serde(default)]
    pub updated_replicas: i32,
    /// The selector as a label-selector string, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// The hash of the current template (members carry it in the kubepve.io/template-hash label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_template_hash: Option<String>,
    /// Ready, Reconciling and Stalled (kstatus conventions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

impl ProxmoxVMSet {
    /// The name of the member with `ordinal`.
    pub fn member_name(&self, ordinal: u32) -> String {
        format!(
            "{}-{ordinal}",
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}
