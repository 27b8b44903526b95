//! The guest a snapshot or restore is about: the guest object (ProxmoxVM or ProxmoxContainer)
//! named by a [`GuestRef`], its connection and VMID, and what Proxmox shows of it now (power,
//! lock, snapshots). Shared by the snapshot, schedule and restore controllers.

use std::sync::Arc;

use kube::api::Api;
use kube::{Resource, ResourceExt};
use kubepve_api::{
    GuestCommon, GuestKindRef, GuestRef, ManagementPolicy, ProxmoxContainer, ProxmoxVM,
};
use kubepve_plan::snapshot::{ObservedGuest, ObservedSnapshot};
use pve_client::GuestKind;

use super::SnapshotError;
use crate::connection::registry::Connection;
use crate::context::Context;

/// The guest object, reduced to what snapshots need.
#[derive(Clone, Debug)]
pub struct Target {
    /// Kubernetes kind.
    pub kind: GuestKindRef,
    /// Object name.
    pub name: String,
    /// Object UID.
    pub uid: String,
    /// Connection, policies.
    pub common: GuestCommon,
    /// The VMID (status, else spec).
    pub vmid: Option<u32>,
    /// The node status last saw it on.
    pub node: Option<String>,
    /// The object is being deleted.
    pub deleting: bool,
}

impl Target {
    /// The Proxmox guest type.
    pub fn pve_kind(&self) -> GuestKind {
        match self.kind {
            GuestKindRef::ProxmoxVM => GuestKind::Qemu,
            GuestKindRef::ProxmoxContainer => GuestKind::Lxc,
        }
    }

    /// The operator may change this guest (not ObserveOnly, not being deleted).
    pub fn managed(&self) -> bool {
        self.common.management_policy == ManagementPolicy::Full && !self.deleting
    }

    /// An owner reference to the guest object (not a controller reference: the guest object
    /// does not manage the snapshot, but the snapshot goes with it).
    pub fn owner_reference(
        &self,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: format!("{}/{}", kubepve_api::GROUP, kubepve_api::VERSION),
            kind: self.kind.as_str().into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: None,
            block_owner_deletion: None,
        }
    }
}

fn target<K>(
    object: &K,
    kind: GuestKindRef,
    common: &GuestCommon,
    status: (Option<i64>, Option<String>),
) -> Target
where
    K: Resource<DynamicType = ()>,
{
    let vmid = status.0.or(common.vmid).and_then(|v| u32::try_from(v).ok());
    Target {
        kind,
        name: object.name_any(),
        uid: object.uid().unwrap_or_default(),
        common: common.clone(),
        vmid,
        node: status.1.or_else(|| common.node.clone()),
        deleting: object.meta().deletion_timestamp.is_some(),
    }
}

/// The guest object `guest` names in `namespace`; `None` when there is none.
pub async fn resolve(
    ctx: &Context,
    namespace: &str,
    guest: &GuestRef,
) -> Result<Option<Target>, SnapshotError> {
    let client = ctx.client.clone();
    Ok(match guest.kind {
        GuestKindRef::ProxmoxVM => Api::<ProxmoxVM>::namespaced(client, namespace)
            .get_opt(&guest.name)
            .await?
            .map(|vm| {
                let st = vm.status.clone().unwrap_or_default();
                target(&vm, guest.kind, &vm.spec.guest, (st.vmid, st.node))
            }),
        GuestKindRef::ProxmoxContainer => Api::<ProxmoxContainer>::namespaced(client, namespace)
            .get_opt(&guest.name)
            .await?
            .map(|ct| {
                let st = ct.status.clone().unwrap_or_default();
                target(&ct, guest.kind, &ct.spec.guest, (st.vmid, st.node))
            }),
    })
}

/// The usable connection of `target` (while `deleting`, the last usable one too), or a message
/// saying why there is none.
pub fn connection(
    ctx: &Context,
    namespace: &str,
    target: &Target,
    deleting: bool,
) -> Result<Arc<Connection>, String> {
    let name = &target.common.connection_ref.name;
    let key = (namespace.to_string(), name.clone());
    if deleting && let Some(conn) = ctx.connections.for_deletion(&key) {
        // As the guest deletion does: the last usable connection, so a Secret deleted first
        // (namespace deletion) does not hold the snapshot's finalizer for ever.
        return Ok(conn);
    }
    match ctx.connections.get(&key) {
        Some(Ok(conn)) => Ok(conn),
        Some(Err(problem)) => Err(format!(
            "connection {name} is not usable: {}",
            problem.message
        )),
        None => Err(format!(
            "waiting for ProxmoxConnection {name} in this namespace to be checked"
        )),
    }
}

/// What Proxmox shows of the guest now, and the node it is on. The power state, lock and
/// snapshots are read directly: a snapshot acts on the guest as it is. The shared
/// `/cluster/resources` read says where the guest is; with `fresh_if_missing`, a guest it does
/// not show (yet) is looked up in a fresh read before it counts as missing (a caller already
/// waiting for a missing guest passes `false` and costs no read of its own).
pub async fn observe(
    conn: &Connection,
    kind: GuestKind,
    vmid: u32,
    fresh_if_missing: bool,
) -> Result<(ObservedGuest, Option<String>), SnapshotError> {
    let proxmox = |op: &'static str| move |source| SnapshotError::Proxmox { op, vmid, source };
    let ages: &[std::time::Duration] = if fresh_if_missing {
        &[conn.poll_interval, std::time::Duration::ZERO]
    } else {
        &[conn.poll_interval]
    };
    let mut node = None;
    for &max_age in ages {
        let resources = conn
            .resources(max_age)
            .await
            .map_err(proxmox("list guests"))?;
        node = resources
            .guest(u64::from(vmid))
            .and_then(|g| g.node.clone());
        if node.is_some() {
            break;
        }
    }
    let Some(node) = node else {
        return Ok((ObservedGuest::default(), None));
    };
    let guest = conn.pve.guest(kind, &node, vmid);
    let status = match guest.status().await {
        Ok(status) => status,
        Err(e) if e.is_not_found() => return Ok((ObservedGuest::default(), None)),
        Err(source) => {
            return Err(SnapshotError::Proxmox {
                op: "read guest status",
                vmid,
                source,
            });
        }
    };
    let snapshots = guest
        .snapshots()
        .await
        .map_err(proxmox("list snapshots"))?
        .into_iter()
        .map(|s| ObservedSnapshot {
            name: s.name,
            description: s.description.unwrap_or_default(),
            parent: s.parent,
            snaptime: s.snaptime,
            vmstate: s.vmstate.unwrap_or(false),
        })
        .collect();
    Ok((
        ObservedGuest {
            exists: true,
            running: status.is_running(),
            lock: status.lock.filter(|l| !l.is_empty()),
            snapshots,
        },
        Some(node),
    ))
}
