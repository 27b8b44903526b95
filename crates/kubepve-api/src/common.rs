//! Types shared by `ProxmoxVM` and `ProxmoxContainer`: references, power and deletion policies,
//! the guest fields both kinds carry, and the status both kinds report.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a Proxmox node name (`pve-node`).
pub const NODE_PATTERN: &str = r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$";
/// Pattern of one Proxmox tag (`pve-tag`); Proxmox lowercases tags unless told otherwise.
pub const TAG_PATTERN: &str = r"^[a-zA-Z0-9_][a-zA-Z0-9_+.-]*$";
/// Pattern of a DNS name, as Proxmox checks guest names and hostnames (`dns-name`).
pub const DNS_NAME_PATTERN: &str =
    r"^(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$";
/// Pattern of a Proxmox storage id (`pve-storage-id`).
pub const STORAGE_PATTERN: &str = r"^[a-zA-Z][a-zA-Z0-9_.-]*$";
/// Pattern of a Proxmox pool id (`pve-poolid`).
pub const POOL_PATTERN: &str = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$";
/// Pattern of a bridge (or SDN vnet) name.
pub const BRIDGE_PATTERN: &str = r"^[a-zA-Z][a-zA-Z0-9_.-]*$";
/// Pattern of a unicast MAC address, as Proxmox writes them.
pub const MAC_PATTERN: &str = r"^[0-9A-Fa-f][02468ACEace](:[0-9A-Fa-f]{2}){5}$";

/// A reference to an object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the object, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key in a Secret in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// What the operator does about the guest's power state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunStrategy {
    /// Keep the guest running: start it after creation and whenever it is found stopped.
    #[default]
    Always,
    /// Keep the guest stopped: shut it down gracefully, then stop it if the shutdown policy allows.
    Halted,
    /// Never touch the power state after creation.
    Manual,
}

/// What the operator does when a change can only take effect after a reboot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicy {
    /// Leave the change pending and report it in the RestartRequired condition; reboot only when
    /// the `kubepve.io/restartedAt` annotation changes.
    #[default]
    Manual,
    /// Reboot the guest to apply pending changes.
    Automatic,
}

/// What happens to the Proxmox guest when the Kubernetes object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Stop and destroy the guest.
    #[default]
    Delete,
    /// Leave the guest in Proxmox and remove only the operator's ownership marks.
    Orphan,
}

/// How the guest is stopped when it has to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownPolicy {
    /// Seconds to wait for a graceful (ACPI or guest agent) shutdown.
    #[serde(default = "default_shutdown_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
    /// Stop the guest hard when the graceful shutdown times out.
    #[serde(default = "default_true")]
    pub force_after_timeout: bool,
}

impl Default for ShutdownPolicy {
    fn default() -> Self {
        Self {
            timeout_seconds: default_shutdown_timeout(),
            force_after_timeout: true,
        }
    }
}

fn default_shutdown_timeout() -> i32 {
    180
}

pub(crate) fn default_true() -> bool {
    true
}

/// Options for destroying the guest in Proxmox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Also remove the guest from backup jobs, replication jobs and HA resources.
    #[serde(default = "default_true")]
    pub purge: bool,
    /// Also destroy disks on enabled storages that carry the guest's VMID but are not referenced
    /// by its configuration.
    #[serde(default)]
    pub destroy_unreferenced_disks: bool,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        Self {
            purge: true,
            destroy_unreferenced_disks: false,
        }
    }
}

/// Boot order and delays when the Proxmox node starts (`startup`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    /// Position in the node's start order; lower starts first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub order: Option<i32>,
    /// Seconds to wait after starting this guest before starting the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub up_seconds: Option<i32>,
    /// Seconds to wait for this guest to shut down when the node stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub down_seconds: Option<i32>,
}

/// How much of the guest the operator manages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update, power and delete the guest.
    #[default]
    Full,
    /// Only read the guest: status mirrors it, nothing is ever written to Proxmox, and deleting
    /// the object leaves the guest alone.
    ObserveOnly,
}

/// Explicit adoption of an existing guest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    /// After taking ownership, apply the differences between this spec and the guest. While
    /// false, the operator only adds its ownership tags and lists the differences in
    /// `status.plannedChanges` (Ready is False with reason AwaitingApproval) until the spec
    /// matches the guest or this is set to true.
    #[serde(default)]
    pub apply_changes: bool,
}

/// Placement constraints for a guest without `node`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Nodes the guest may be created on; empty means the connection's list, or any node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 63), regex(pattern = NODE_PATTERN)))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub allowed_nodes: Vec<String>,
}

/// Fields that `ProxmoxVM` and `ProxmoxContainer` share. Unset optional fields are left as
/// Proxmox has them (for a clone, as the template has them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestCommon {
    /// The ProxmoxConnection (same namespace) that reaches the Proxmox cluster.
    pub connection_ref: LocalObjectReference,
    /// Node to create the guest on. When unset the operator places the guest on the online node
    /// with the most free memory that fits it (within `placement.allowedNodes`, else the
    /// connection's `placement.allowedNodes`) and records the choice in `status.node` before
    /// creating it. The guest is found by VMID anywhere in the cluster afterwards, so a migration
    /// (by hand or by Proxmox HA) is not undone. Changing it on an existing guest migrates the
    /// guest there (online for a running VM, restart mode for a running container, offline
    /// when stopped); see docs/migration.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = NODE_PATTERN))]
    pub node: Option<String>,
    /// Where the operator may place the guest when `node` is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Full (default): create the guest if missing and make it match this spec. ObserveOnly:
    /// mirror the existing guest at `vmid` into status (and list what Full would change in
    /// `status.plannedChanges`) without ever changing or deleting it.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Take over the existing guest at `vmid`, which no other object owns: the operator adds its
    /// ownership tags and from then on manages the guest. Without it, a guest at `vmid` that
    /// this object did not create is left alone (ForeignGuest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<Adoption>,
    /// Proxmox VMID (100..999999999). Immutable once set. When unset the operator allocates one
    /// and records it in status before the guest is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 999_999_999))]
    pub vmid: Option<i64>,
    /// Proxmox tags. Proxmox stores them lowercased, sorted and without duplicates, and the
    /// operator compares them the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 64), regex(pattern = TAG_PATTERN)))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub tags: Vec<String>,
    /// Resource pool the guest belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = POOL_PATTERN))]
    pub pool: Option<String>,
    /// Notes shown in the Proxmox UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8000))]
    pub description: Option<String>,
    /// Proxmox protection flag: while set, Proxmox refuses to remove the guest or its disks, and
    /// the operator reports a blocked deletion instead of forcing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<bool>,
    /// Start the guest when its Proxmox node boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_boot: Option<bool>,
    /// Start order and delays when the node boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// Power management: Always (keep running), Halted (keep stopped) or Manual (never touch).
    #[serde(default)]
    pub run_strategy: RunStrategy,
    /// How the guest is shut down when the operator has to stop it.
    #[serde(default)]
    pub shutdown: ShutdownPolicy,
    /// What to do with changes that need a reboot: Manual (report RestartRequired) or Automatic.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// What happens to the guest when this object is deleted: Delete or Orphan.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// How the guest is destroyed when deletionPolicy is Delete.
    #[serde(default)]
    pub delete_options: DeleteOptions,
    /// Raw Proxmox configuration keys and values, for settings this API does not model (for
    /// example `bios: ovmf` or `machine: q35`). Keys that a field of this spec manages are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub extra_config: BTreeMap<String, String>,
}

/// The printable lifecycle phase of a guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Nothing has been done yet.
    #[default]
    Pending,
    /// The guest is being created or cloned.
    Creating,
    /// The guest is being started.
    Starting,
    /// The guest runs.
    Running,
    /// The guest is being shut down or stopped.
    Stopping,
    /// The guest is stopped.
    Stopped,
    /// Configuration changes are being applied.
    Updating,
    /// The guest is being migrated to the node `spec.node` names.
    Migrating,
    /// The guest is being destroyed.
    Deleting,
    /// The operator cannot make progress; the conditions say why.
    Failed,
}

/// A Proxmox task the operator started for this guest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRef {
    /// The task's UPID, as Proxmox printed it.
    pub upid: String,
    /// The task type, such as qmcreate, qmclone, qmstart, vzcreate.
    #[serde(rename = "type")]
    pub task_type: String,
    /// When the task started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the operator saw the task end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Proxmox's exit status: OK, WARNINGS: n, or the error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<String>,
}

/// The observed state of a ProxmoxVM or ProxmoxContainer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A one-word summary of the lifecycle; the conditions carry the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The guest's VMID: spec.vmid, or the one the operator allocated (recorded before creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<i64>,
    /// The node the guest currently runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The `spec.node` the operator last saw the guest settled for. A `spec.node` that differs
    /// from it is a request to migrate; a guest that someone else moved while `spec.node` still
    /// equals it is followed, not moved back (docs/migration.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_node: Option<String>,
    /// Ready, Reconciling and Stalled (kstatus conventions), RestartRequired, and others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The Proxmox task in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_task: Option<TaskRef>,
    /// The last Proxmox task that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task: Option<TaskRef>,
    /// IP addresses reported by the guest agent (VM) or the container's interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// The `kubepve.io/restartedAt` annotation value the operator last acted on with a reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// What the operator would change to make the guest match the spec and has not applied:
    /// everything under ObserveOnly, or the differences of an adopted guest awaiting
    /// `spec.adopt.applyChanges`. Empty when the guest matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_changes: Vec<String>,
    /// True when this object took over a guest that existed before it (spec.adopt) instead of
    /// creating it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<bool>,
    /// SHA-1 digest of the guest's Proxmox config when it was last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
}
