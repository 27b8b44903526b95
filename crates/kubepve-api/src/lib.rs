//! The kubepve custom resources, group `kubepve.io`, version `v1alpha1`.
//!
//! `ProxmoxConnection` says how to reach a Proxmox VE cluster; `ProxmoxVM` and `ProxmoxContainer`
//! declare QEMU guests and LXC containers on it; `ProxmoxSnapshot`, `ProxmoxSnapshotSchedule`
//! and `ProxmoxSnapshotRestore` take, schedule and roll back their snapshots; `ProxmoxVMSet`
//! keeps a number of alike ProxmoxVMs made from one template. The `///` docs on
//! every field become the CRD descriptions, and the validation that the API server can do
//! (patterns, ranges, CEL rules for immutability and one-of) lives next to the fields so that bad input never reaches Proxmox.
//! [`crds`] renders the CustomResourceDefinitions that `kubepve crd` prints and `crds/` holds.

pub mod common;
pub mod connection;
pub mod container;
pub mod crds;
pub mod migration;
pub mod quantity;
pub mod selector;
pub mod snapshot;
pub mod vm;
pub mod vmset;

pub use common::*;
pub use connection::{
    ConnectionLimits, ConnectionTls, CredentialsSecretRef, NodeInfo, ProxmoxConnection,
    ProxmoxConnectionSpec, ProxmoxConnectionStatus, VmidRange,
};
pub use container::{
    ContainerFeatures, ContainerNetwork, MountPoint, ProxmoxContainer, ProxmoxContainerSpec, RootFs,
};
pub use migration::VmMigration;
pub use quantity::{Quantity, QuantityError};
pub use selector::{GuestSelector, SelectorRequirement};
pub use snapshot::{
    GuestKindRef, GuestRef, ProxmoxSnapshot, ProxmoxSnapshotRestore, ProxmoxSnapshotRestoreSpec,
    ProxmoxSnapshotSchedule, ProxmoxSnapshotScheduleSpec, ProxmoxSnapshotSpec, RestorePhase,
    RestoreStatus, Retention, SnapshotDeletionPolicy, SnapshotPhase, SnapshotScheduleStatus,
    SnapshotStatus,
};
pub use vm::{
    BlankSource, CloneMode, CloneSource, CloudInit, CpuSpec, Disk, IpConfig, Network, NicModel,
    ProxmoxVM, ProxmoxVMSpec, VmSource,
};
pub use vmset::{
    ProxmoxVMSet, ProxmoxVMSetSpec, RollingUpdate, ScaleDownPolicy, TemplateMetadata,
    UpdateStrategy, UpdateStrategyType, VMSetStatus, VMTemplate,
};

/// The API group of every kubepve kind.
pub const GROUP: &str = "kubepve.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// The finalizer that guards deletion of guests the operator manages.
pub const FINALIZER: &str = "kubepve.io/finalizer";
/// Annotation whose new value asks for one reboot (like `kubectl rollout restart`).
pub const RESTARTED_AT_ANNOTATION: &str = "kubepve.io/restartedAt";
/// Proxmox tag on every guest the operator manages.
pub const MANAGED_TAG: &str = "kubepve";
/// Prefix of the Proxmox tag that names the owning object's UID: `kubepve-owner-<uid>`.
pub const OWNER_TAG_PREFIX: &str = "kubepve-owner-";
/// Prefix of the owner identity `pvectl apply` derives for manifests without a `metadata.uid`
/// (`kubepve-owner-pvectl-<hash>`). The operator may take such a guest over with `spec.adopt`.
pub const CLI_OWNER_PREFIX: &str = "pvectl-";
/// Line put into the description of a clone at clone time, before tags can be set, so that a
/// clone is recognisably ours from its first moment: `kubepve.io/owner: <uid>`.
pub const OWNER_DESCRIPTION_PREFIX: &str = "kubepve.io/owner: ";

/// The Proxmox tag that marks a guest as owned by the object with this UID.
pub fn owner_tag(uid: &str) -> String {
    format!("{OWNER_TAG_PREFIX}{}", uid.to_ascii_lowercase())
}
