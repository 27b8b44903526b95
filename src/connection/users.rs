//! Which guest objects refer to a connection: while any exists, a connection that is being
//! deleted keeps its finalizer (they need it to destroy their guests).

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use kubepve_api::{GuestCommon, ProxmoxContainer, ProxmoxVM};

use crate::proxmox::registry::ConnectionKey;

/// `Kind/name` of every ProxmoxVM and ProxmoxContainer in the connection's namespace that
/// names it in `spec.connectionRef`.
pub async fn guests_using(
    client: &Client,
    key: &ConnectionKey,
) -> Result<Vec<String>, kube::Error> {
    let (ns, name) = key;
    let uses = |common: &GuestCommon| common.connection_ref.name == *name;
    let mut users = Vec::new();
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), ns);
    for vm in vms.list(&ListParams::default()).await? {
        if uses(&vm.spec.guest) {
            users.push(format!("ProxmoxVM/{}", vm.name_any()));
        }
    }
    let cts: Api<ProxmoxContainer> = Api::namespaced(client.clone(), ns);
    for ct in cts.list(&ListParams::default()).await? {
        if uses(&ct.spec.guest) {
            users.push(format!("ProxmoxContainer/{}", ct.name_any()));
        }
    }
    Ok(users)
}
