//! A ProxmoxVM/ProxmoxContainer object as the planner's desired guest, for `apply` and `diff`:
//! its VMID, owner identity, resolved template, secrets from the given files, and its node
//! (spec.node, checked to exist, else placed as the operator places it).

use crate::config::Connection;
use kubepve_api::{ProxmoxContainerSpec, ProxmoxVMSpec, SecretKeySelector};
use kubepve_plan::{Candidate, Desired, GuestKind, Identity, NoTemplate, Secrets, TemplateRef};

use crate::exit::pve_err;
use crate::exit::usage;
use crate::manifest::{Object, ObjectKind, SecretMap};
use crate::select::GuestInfo;

/// An object ready to plan.
pub struct Prepared {
    pub desired: Desired,
    pub kind: GuestKind,
    pub vmid: i64,
    /// The manifest sets spec.adopt.
    pub adopt: bool,
}

fn secret(
    secrets: &SecretMap,
    ns: &str,
    sel: Option<&SecretKeySelector>,
) -> anyhow::Result<Option<String>> {
    let Some(sel) = sel else { return Ok(None) };
    secrets
        .get(&format!("{ns}/{}", sel.name))
        .and_then(|s| s.get(&sel.key))
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            usage(format!(
                "secret {ns}/{} key {:?} is not in the files: add the Secret document to them \
                 or pass --secret-file",
                sel.name, sel.key
            ))
        })
}

/// Turn an object into the planner's desired guest: VMID, owner identity, template, secrets.
pub async fn prepare(
    conn: &Connection,
    obj: &Object,
    secrets: &SecretMap,
    guests: &[GuestInfo],
) -> anyhow::Result<Prepared> {
    let client = &conn.client;
    let ctx =
        |e: serde_json::Error| usage(format!("{} ({}): invalid spec: {e}", obj.label(), obj.file));
    let owner = kubepve_api::owner_tag(&obj.uid);
    let find_vmid = |spec_vmid: Option<i64>| -> Option<i64> {
        spec_vmid.or_else(|| {
            guests
                .iter()
                .find(|g| g.tags.iter().any(|t| t.eq_ignore_ascii_case(&owner)))
                .map(|g| i64::from(g.vmid))
        })
    };
    let plan_err = |e: kubepve_plan::PlanError| usage(format!("{}: {e}", obj.label()));
    match obj.kind {
        ObjectKind::Vm => {
            let spec: ProxmoxVMSpec = serde_json::from_value(obj.spec.clone()).map_err(ctx)?;
            let vmid = match find_vmid(spec.guest.vmid) {
                Some(v) => v,
                None => i64::from(
                    client
                        .next_id(None)
                        .await
                        .map_err(|e| pve_err("cannot allocate a VMID", e))?,
                ),
            };
            let template = match spec
                .source
                .clone
                .as_ref()
                .and_then(|c| c.template_name.as_ref())
            {
                Some(name) => Some(find_template(guests, name)?),
                None => None,
            };
            let ci = spec.cloud_init.as_ref();
            let secrets = Secrets {
                password: secret(
                    secrets,
                    &obj.namespace,
                    ci.and_then(|c| c.password_secret_ref.as_ref()),
                )?,
                ssh_keys: secret(
                    secrets,
                    &obj.namespace,
                    ci.and_then(|c| c.ssh_keys_secret_ref.as_ref()),
                )?,
            };
            let identity = Identity {
                name: obj.name.clone(),
                uid: obj.uid.clone(),
                vmid,
                node: None,
            };
            let desired = Desired::vm(&spec, &identity, &secrets, template).map_err(plan_err)?;
            Ok(Prepared {
                desired: place(conn, obj, &spec.guest, desired, guests).await?,
                kind: GuestKind::Qemu,
                vmid,
                adopt: spec.guest.adopt.is_some(),
            })
        }
        ObjectKind::Ct => {
            let spec: ProxmoxContainerSpec =
                serde_json::from_value(obj.spec.clone()).map_err(ctx)?;
            let vmid = match find_vmid(spec.guest.vmid) {
                Some(v) => v,
                None => i64::from(
                    client
                        .next_id(None)
                        .await
                        .map_err(|e| pve_err("cannot allocate a VMID", e))?,
                ),
            };
            let secrets = Secrets {
                password: secret(secrets, &obj.namespace, spec.password_secret_ref.as_ref())?,
                ssh_keys: secret(secrets, &obj.namespace, spec.ssh_keys_secret_ref.as_ref())?,
            };
            let identity = Identity {
                name: obj.name.clone(),
                uid: obj.uid.clone(),
                vmid,
                node: None,
            };
            let desired = Desired::container(&spec, &identity, &secrets).map_err(plan_err)?;
            Ok(Prepared {
                desired: place(conn, obj, &spec.guest, desired, guests).await?,
                kind: GuestKind::Lxc,
                vmid,
                adopt: spec.guest.adopt.is_some(),
            })
        }
    }
}

/// The desired guest with a node: spec.node, else (for a guest to create) the online node with
/// the most free memory among `placement.allowedNodes`, as the operator places it.
async fn place(
    conn: &Connection,
    obj: &Object,
    common: &kubepve_api::GuestCommon,
    desired: Desired,
    guests: &[GuestInfo],
) -> anyhow::Result<Desired> {
    let exists = guests.iter().any(|g| i64::from(g.vmid) == desired.vmid());
    if exists {
        return Ok(desired);
    }
    if !desired.node().is_empty() {
        // Proxmox answers an unknown node with a raw 500 (hostname lookup failed).
        crate::preflight::node(conn, desired.node())
            .await
            .map_err(|e| crate::exit::usage(format!("spec.node: {e:#}")))?;
        return Ok(desired);
    }
    let nodes = conn
        .client
        .cluster_resources(Some("node"))
        .await
        .map_err(|e| pve_err("cannot read the nodes to place the guest", e))?;
    let loads = kubepve_plan::node_loads(&nodes, |_| 0);
    let allowed = common
        .placement
        .as_ref()
        .map(|p| p.allowed_nodes.clone())
        .unwrap_or_default();
    let need = desired
        .memory_mib()
        .unwrap_or(kubepve_plan::DEFAULT_MEMORY_MIB);
    let node = kubepve_plan::choose_node(&loads, &allowed, need)
        .map_err(|reason| anyhow::anyhow!("{}: unschedulable: {reason}", obj.label()))?;
    Ok(desired.on_node(node))
}

/// The one template called `name`: a missing one is an error, an ambiguous name a usage error.
pub fn find_template(guests: &[GuestInfo], name: &str) -> anyhow::Result<TemplateRef> {
    let candidates = guests.iter().map(|g| Candidate {
        vmid: i64::from(g.vmid),
        node: Some(&g.node),
        name: &g.name,
        template: g.template,
    });
    kubepve_plan::find_template(candidates, name).map_err(|e| match e {
        NoTemplate::Missing { .. } => {
            anyhow::anyhow!("{e} (see `pvectl vm list --template true`)")
        }
        NoTemplate::Ambiguous { .. } => usage(e.to_string()),
    })
}
