//! How a guest moves between Proxmox nodes when `spec.node` changes (docs/migration.md): the
//! `spec.migration` options of a ProxmoxVM. Containers have no options: a running container is
//! always moved by restart migration (LXC has no live migration) and a stopped one offline.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Options for migrating a VM when `spec.node` changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmMigration {
    /// Live-migrate the VM's local disks too (`with-local-disks=1`) when it runs. Without it,
    /// a running VM with disks on node-local storage is not migrated: Proxmox cannot move them
    /// live, and the guest is Stalled with reason MigrationBlocked naming the disks. A stopped
    /// VM's local disks are always copied by the offline migration.
    #[serde(default)]
    pub with_local_disks: bool,
}
