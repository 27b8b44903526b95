//! Snapshots of guests: `ProxmoxSnapshot` (one Proxmox snapshot of one ProxmoxVM or
//! ProxmoxContainer), `ProxmoxSnapshotSchedule` (snapshots on a cron schedule with retention)
//! and `ProxmoxSnapshotRestore` (a one-shot rollback of a guest to a ProxmoxSnapshot).
//!
//! Proxmox's own rules for snapshot names (`pve-configid`, at most 40 characters, not the
//! reserved `current` or `pending`) are in the schema, so a bad name never reaches Proxmox.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{LocalObjectReference, TaskRef};
use crate::selector::GuestSelector;

/// Pattern of a Proxmox snapshot name (`pve-configid`): a letter, then letters, digits, `_`
/// or `-`.
pub const SNAPSHOT_NAME_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_-]+$";
/// Longest snapshot name Proxmox accepts.
pub const SNAPSHOT_NAME_MAX: usize = 40;
/// Label on the ProxmoxSnapshots a schedule creates: the schedule's name.
pub const SCHEDULE_LABEL: &str = "kubepve.io/snapshot-schedule";
/// Label on the ProxmoxSnapshots a schedule creates: the guest object's name.
pub const GUEST_LABEL: &str = "kubepve.io/guest";

/// The kind of guest a snapshot is of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum GuestKindRef {
    /// A `ProxmoxVM` (QEMU).
    #[default]
    ProxmoxVM,
    /// A `ProxmoxContainer` (LXC).
    ProxmoxContainer,
}

impl GuestKindRef {
    /// The Kubernetes kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKindRef::ProxmoxVM => "ProxmoxVM",
            GuestKindRef::ProxmoxContainer => "ProxmoxContainer",
        }
    }
}

/// A guest object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestRef {
    /// `ProxmoxVM` or `ProxmoxContainer`.
    pub kind: GuestKindRef,
    /// Name of the guest object, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// What happens to the Proxmox snapshot when the ProxmoxSnapshot object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotDeletionPolicy {
    /// Delete the snapshot in Proxmox.
    #[default]
    Delete,
    /// Keep the snapshot in Proxmox (its ownership line stays in its description).
    Retain,
}

/// One snapshot of a guest in Proxmox.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "A Proxmox VE snapshot of a ProxmoxVM or ProxmoxContainer, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxSnapshot",
    plural = "proxmoxsnapshots",
    singular = "proxmoxsnapshot",
    shortname = "pxsnap",
    category = "proxmox",
    namespaced,
    status = "SnapshotStatus",
    validation = kube::core::Rule::new("has(self.spec.snapshotName) || (size(self.metadata.name) <= 40 && self.metadata.name.matches('^[A-Za-z][A-Za-z0-9_-]+$'))").message("the object's name is not a Proxmox snapshot name (a letter, then letters, digits, _ or -, at most 40 characters): set spec.snapshotName").field_path(".spec.snapshotName").reason(kube::core::Reason::FieldValueRequired),
    printcolumn = r#"{"name":"Guest","type":"string","jsonPath":".spec.guestRef.name"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotName"}"#,
    printcolumn = r#"{"name":"Ready","type":"boolean","jsonPath":".status.readyToUse"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.guestRef == oldSelf.guestRef").message("guestRef is immutable: create another ProxmoxSnapshot").field_path(".guestRef").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = kube::core::Rule::new("has(self.snapshotName) == has(oldSelf.snapshotName) && (!has(self.snapshotName) || self.snapshotName == oldSelf.snapshotName)").message("snapshotName is immutable: create another ProxmoxSnapshot").field_path(".snapshotName").reason(kube::core::Reason::FieldValueForbidden))]
#[x_kube(validation = kube::core::Rule::new("!self.includeVMState || self.guestRef.kind == 'ProxmoxVM'").message("includeVMState is for VMs only: containers have no RAM state to save").field_path(".includeVMState").reason(kube::core::Reason::FieldValueForbidden))]
pub struct ProxmoxSnapshotSpec {
    /// The guest to snapshot, in the same namespace. Immutable.
    pub guest_ref: GuestRef,
    /// The snapshot's name in Proxmox: a letter, then letters, digits, `_` or `-`, at most 40
    /// characters, not `current` or `pending`. Defaults to the object's name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 40), regex(pattern = SNAPSHOT_NAME_PATTERN))]
    #[x_kube(validation = kube::core::Rule::new("!self.matches('^(?i)(current|pending)$')").message("current and pending are reserved by Proxmox: choose another snapshotName"))]
    pub snapshot_name: Option<String>,
    /// The snapshot's description in Proxmox (the operator adds a line naming this object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Save the RAM of a running VM too (VMs only), so that a rollback resumes it.
    #[serde(default, rename = "includeVMState")]
    pub include_vm_state: bool,
    /// Delete (default) removes the Proxmox snapshot when this object is deleted; Retain keeps
    /// it.
    #[serde(default)]
    pub deletion_policy: SnapshotDeletionPolicy,
}

/// A one-word summary of a snapshot's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotPhase {
    /// Waiting for the guest, the connection, or another snapshot of the guest.
    Pending,
    /// The Proxmox snapshot task runs.
    Creating,
    /// The snapshot exists in Proxmox.
    Ready,
    /// The snapshot cannot be taken; the conditions say why.
    Failed,
    /// The Proxmox snapshot is being deleted.
    Deleting,
}

/// The observed state of a ProxmoxSnapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A one-word summary; the conditions carry the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SnapshotPhase>,
    /// True once the snapshot exists in Proxmox and can be rolled back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    /// The snapshot's name in Proxmox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
    /// The guest's VMID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<i64>,
    /// The node the guest was on when the snapshot was taken or last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// When Proxmox took the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<Time>,
    /// The snapshot's parent in Proxmox's snapshot tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Ready, Reconciling and Stalled (kstatus conventions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The Proxmox task in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_task: Option<TaskRef>,
    /// The last Proxmox task that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task: Option<TaskRef>,
}

/// How many scheduled snapshots of each guest to keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.keepLast) || has(self.maxAge)").message("retention needs keepLast, maxAge or both, so that snapshots do not pile up"))]
pub struct Retention {
    /// Keep at most this many snapshots of each guest (the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub keep_last: Option<i32>,
    /// Delete snapshots older than this: a number and a unit, `m`, `h`, `d` or `w` (`7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 12), regex(pattern = r"^[1-9][0-9]{0,5}[mhdw]$"))]
    pub max_age: Option<String>,
}

/// Snapshots of selected guests on a cron schedule, pruned by retention.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "Scheduled Proxmox VE snapshots of the selected guests, with retention, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxSnapshotSchedule",
    plural = "proxmoxsnapshotschedules",
    singular = "proxmoxsnapshotschedule",
    shortname = "pxsnapsched",
    category = "proxmox",
    namespaced,
    status = "SnapshotScheduleStatus",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Last","type":"date","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextScheduleTime"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxSnapshotScheduleSpec {
    /// A standard 5-field cron expression (minute hour day-of-month month day-of-week), such
    /// as `0 3 * * *` (daily at 03:00) or `*/15 * * * *`.
    #[schemars(length(min = 9, max = 100), regex(pattern = r"^\S+(\s+\S+){4}$"))]
    pub schedule: String,
    /// The IANA time zone the schedule is in (`Europe/Berlin`); default UTC. Daylight saving
    /// time is followed: a skipped local time runs at the next valid minute, a repeated one once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_+/-]+$"))]
    pub time_zone: Option<String>,
    /// Which ProxmoxVM and ProxmoxContainer objects in this namespace to snapshot.
    pub guest_selector: GuestSelector,
    /// How many snapshots of each guest to keep.
    pub retention: Retention,
    /// Stop taking snapshots (pruning continues).
    #[serde(default)]
    pub suspend: bool,
    /// Save the RAM of running VMs too.
    #[serde(default, rename = "includeVMState")]
    pub include_vm_state: bool,
}

/// The observed state of a ProxmoxSnapshotSchedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotScheduleStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the schedule last created snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When it will next create snapshots (empty while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// How many guests the selector matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<i32>,
    /// How many ProxmoxSnapshots this schedule owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<i32>,
    /// Ready, Reconciling and Stalled (kstatus conventions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// A rollback of a guest to a ProxmoxSnapshot, done once.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubepve.io",
    doc = "A one-shot rollback of a guest to a ProxmoxSnapshot, reconciled by kubepve.",
    version = "v1alpha1",
    kind = "ProxmoxSnapshotRestore",
    plural = "proxmoxsnapshotrestores",
    singular = "proxmoxsnapshotrestore",
    shortname = "pxrestore",
    category = "proxmox",
    namespaced,
    status = "RestoreStatus",
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".spec.snapshotRef.name"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("a restore is done once and cannot be changed: create another ProxmoxSnapshotRestore").reason(kube::core::Reason::FieldValueForbidden))]
pub struct ProxmoxSnapshotRestoreSpec {
    /// The ProxmoxSnapshot to roll its guest back to, in the same namespace.
    pub snapshot_ref: LocalObjectReference,
    /// Start the guest after the rollback (a snapshot with RAM state resumes anyway).
    #[serde(default)]
    pub start_after: bool,
}

/// A one-word summary of a restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestorePhase {
    /// Waiting for the snapshot, the guest or the connection, or for a guard to clear.
    Pending,
    /// The Proxmox rollback task runs.
    RollingBack,
    /// The guest was rolled back.
    Succeeded,
    /// The rollback failed or was refused; the conditions say why.
    Failed,
}

/// The observed state of a ProxmoxSnapshotRestore.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A one-word summary; the conditions carry the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    /// The guest's VMID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<i64>,
    /// The configuration backup saved before the rollback: `<namespace>/<ConfigMap>/<key>` (a
    /// ConfigMap in the operator's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// When the operator asked Proxmox for the rollback. Written before the request, so that a
    /// pass after a lost status write looks for that task instead of rolling back again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_time: Option<Time>,
    /// When the rollback ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Ready, Reconciling and Stalled (kstatus conventions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The Proxmox task in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_task: Option<TaskRef>,
    /// The last Proxmox task that ended (the rollback's UPID once it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task: Option<TaskRef>,
}

impl ProxmoxSnapshot {
    /// The snapshot's name in Proxmox: spec.snapshotName, or the object's name.
    pub fn proxmox_name(&self) -> String {
        self.spec
            .snapshot_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}
