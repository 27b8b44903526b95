//! The desired state, and its inputs that live outside the object: Secret values, the template
//! a clone names, and a VMID when the spec has none.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kubepve_api::SecretKeySelector;
use kubepve_plan::{Candidate, Identity, Observed, Secrets, TemplateRef, find_template};

use super::GuestError;
use super::outcome::Outcome;
use crate::guest::GuestContext;
use crate::guest::GuestObject;
use crate::proxmox::registry::Connection;

/// The desired state, or the outcome that explains why there is none.
pub(super) async fn desired_state<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    deleting: bool,
    node: Option<String>,
) -> Result<Result<kubepve_plan::Desired, Outcome>, GuestError> {
    let settings = &ctx.settings;
    // Secrets and templates only matter for writing config; a deletion needs neither.
    let secrets = if deleting {
        kubepve_plan::Secrets::default()
    } else {
        match secrets(object, ctx).await? {
            Ok(secrets) => secrets,
            Err((reason, message)) => {
                return Ok(Err(Outcome::stalled(
                    reason,
                    message,
                    settings.connection_retry,
                )));
            }
        }
    };
    let template = match object.template_name() {
        Some(name) if !observed.exists && !deleting => {
            match template(conn, name)
                .await
                .map_err(|source| GuestError::Proxmox {
                    op: "find template",
                    vmid,
                    source,
                })? {
                Ok(template) => Some(template),
                Err(message) => {
                    return Ok(Err(Outcome::stalled(
                        "TemplateNotFound",
                        message,
                        settings.connection_retry,
                    )));
                }
            }
        }
        // The template only matters for creating the guest.
        Some(_) => Some(TemplateRef {
            vmid: 0,
            node: None,
        }),
        None => None,
    };
    let identity = Identity {
        name: object.name_any(),
        uid: object.uid().unwrap_or_default(),
        vmid: i64::try_from(vmid).unwrap_or_default(),
        node,
    };
    let desired = if deleting {
        kubepve_plan::Desired::for_deletion(K::PVE_KIND, object.common(), &identity)
    } else {
        object.desired(&identity, &secrets, template)
    };
    Ok(desired.map_err(|e| Outcome::stalled("InvalidSpec", e.to_string(), settings.backoff.1)))
}

/// The Secret values the object refers to, or (reason, message) when one is missing. Messages
/// name the Secret and key, never the value.
pub async fn secrets<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
) -> Result<Result<Secrets, (&'static str, String)>, GuestError> {
    let api: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let (password, ssh_keys) = object.secret_refs();
    let mut out = Secrets::default();
    for (selector, slot) in [(password, &mut out.password), (ssh_keys, &mut out.ssh_keys)] {
        let Some(selector) = selector else { continue };
        match read(&api, selector).await? {
            Ok(value) => *slot = Some(value),
            Err(problem) => return Ok(Err(problem)),
        }
    }
    Ok(Ok(out))
}

async fn read(
    api: &Api<Secret>,
    selector: &SecretKeySelector,
) -> Result<Result<String, (&'static str, String)>, GuestError> {
    let Some(secret) = api.get_opt(&selector.name).await? else {
        return Ok(Err((
            "SecretNotFound",
            format!("secret {} not found", selector.name),
        )));
    };
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&selector.key))
        .map(|b| String::from_utf8(b.0.clone()));
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(&selector.key))
        .cloned();
    match (from_data, from_string) {
        (Some(Ok(text)), _) | (None, Some(text)) => Ok(Ok(text)),
        (Some(Err(_)), _) => Ok(Err((
            "SecretKeyInvalid",
            format!(
                "key {} of secret {} is not UTF-8",
                selector.key, selector.name
            ),
        ))),
        (None, None) => Ok(Err((
            "SecretKeyNotFound",
            format!("secret {} has no key {}", selector.name, selector.key),
        ))),
    }
}

/// The one template named `name`, or a message saying why there is none.
pub async fn template(
    conn: &Connection,
    name: &str,
) -> Result<Result<TemplateRef, String>, pve_client::Error> {
    let snapshot = conn.resources_fresh_enough().await?;
    let guests = snapshot
        .items
        .iter()
        .filter(|r| r.is_guest())
        .map(|r| Candidate {
            vmid: r
                .vmid
                .and_then(|v| i64::try_from(v).ok())
                .unwrap_or_default(),
            node: r.node.as_deref(),
            name: r.name.as_deref().unwrap_or_default(),
            template: r.template == Some(true),
        });
    Ok(find_template(guests, name).map_err(|e| e.to_string()))
}

/// A free VMID: with the connection's `vmidRange`, the lowest id in it that the cluster does not
/// use; else the lowest one Proxmox reports free. Never one this operator has handed out and
/// Proxmox does not show yet. `None`: the range is used up. Proxmox confirms each candidate
/// (`/cluster/nextid?vmid=`); a guest created by someone else between that check and the create
/// makes the create fail, and the reconcile allocates again.
pub async fn allocate_vmid(conn: &Connection) -> Result<Option<u64>, pve_client::Error> {
    let mut reserved = conn.reserved.lock().await;
    let (mut candidate, end, taken) = match conn.policy.vmid_range {
        Some((start, end)) => {
            // Fresh, not cached: ids taken since the last poll would only cost retries.
            conn.invalidate().await;
            let snapshot = conn.resources_fresh_enough().await?;
            let taken: std::collections::HashSet<u64> = snapshot
                .items
                .iter()
                .filter(|r| r.is_guest())
                .filter_map(|r| r.vmid)
                .collect();
            let free = kubepve_plan::lowest_free_vmid(start, end, |id| {
                taken.contains(&id) || reserved.contains(&id)
            });
            match free {
                Some(first) => (first, end, taken),
                None => return Ok(None),
            }
        }
        None => (
            u64::from(conn.pve.next_id(None).await?),
            999_999_999,
            std::collections::HashSet::new(),
        ),
    };
    // Bounded: each pass moves past one id that is taken or handed out already.
    for _ in 0..1024 {
        if candidate > end {
            return Ok(None);
        }
        if !reserved.contains(&candidate) && !taken.contains(&candidate) {
            match conn.pve.next_id(u32::try_from(candidate).ok()).await {
                Ok(_) => {
                    reserved.insert(candidate);
                    return Ok(Some(candidate));
                }
                Err(pve_client::Error::InvalidParams { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        candidate += 1;
    }
    Err(pve_client::Error::Config(
        "no free VMID found after 1024 tries".into(),
    ))
}
