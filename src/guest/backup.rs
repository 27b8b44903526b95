//! Configuration backups before destructive steps.
//!
//! Before a guest is destroyed, and before a config step removes keys (a disk, a NIC, a
//! setting), the guest's Proxmox config (pending changes applied) and its pending changes go
//! into one ConfigMap per guest object, `kubepve-backup-<kind>-<namespace>.<name>` (hashed when
//! longer than 253 characters), kept in the operator's own namespace
//! ([`BackupSettings::namespace`]): the object's namespace refuses creates while it is being
//! deleted, and deleting it would take the backups with it. Labels and annotations name the
//! object's namespace, kind, name and UID ([`SOURCE_NAMESPACE_LABEL`] and the others). One data
//! key per backup
//! (`<UTC time>-<reason>`, JSON with the time, reason, VMID, node, config, pending changes and
//! the UPID of the task that followed), the newest [`BackupSettings::keep`] of them, at most
//! [`MAX_BYTES`] in all. Secret values (`cipassword`) are redacted before anything is written,
//! so the ConfigMap never holds one. It has no owner reference, so it survives the deletion of
//! the object; its `kubepve.io/backup-expires-at` annotation is renewed with every backup, and
//! [`prune`] (run periodically by the leader) deletes it once that time has passed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Client, ResourceExt};
use kubepve_plan::{Observed, Step};
use pve_client::{redacted_pending, shown};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GuestObject;
use super::hold::{Hold, proxmox};
use super::reconcile::Acted;
use super::reconcile::GuestError;
use crate::context::MANAGER;
use crate::guest::GuestContext;
use crate::proxmox::registry::Connection;

/// The label every backup ConfigMap carries (value `"true"`), for listing and pruning.
pub const BACKUP_LABEL: &str = "kubepve.io/config-backup";
/// When the ConfigMap may be deleted (RFC 3339), renewed with every backup.
pub const EXPIRES_ANNOTATION: &str = "kubepve.io/backup-expires-at";
/// The object the backups are of (`ProxmoxVM/team-a/web-01`).
pub const BACKUP_OF_ANNOTATION: &str = "kubepve.io/backup-of";
/// The namespace of the object the backups are of (a label, to select them).
pub const SOURCE_NAMESPACE_LABEL: &str = "kubepve.io/backup-of-namespace";
/// The kind of the object the backups are of (a label).
pub const SOURCE_KIND_LABEL: &str = "kubepve.io/backup-of-kind";
/// The name of the object (a label only when it fits the 63 characters of a label value).
pub const SOURCE_NAME: &str = "kubepve.io/backup-of-name";
/// The UID of the object whose backup was taken last (a label).
pub const SOURCE_UID_LABEL: &str = "kubepve.io/backup-of-uid";
/// Most bytes of backup data one ConfigMap holds (the API server's limit is 1 MiB).
pub const MAX_BYTES: usize = 256 * 1024;
/// Where backups are kept when nothing says otherwise (the namespace of the kustomize
/// install); `kubepve run` always names one (`--backup-namespace`, else its own namespace).
pub const DEFAULT_NAMESPACE: &str = "kubepve-system";

/// Where backups are kept, how many and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSettings {
    /// The namespace of the backup ConfigMaps: the operator's own, which outlives the guests'.
    pub namespace: String,
    /// Backups kept per guest object (oldest dropped first); at least 1.
    pub keep: usize,
    /// How long a ConfigMap is kept after its last backup, also after the object is gone.
    pub retention: Duration,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            keep: 10,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// One backup, as stored under its data key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// `delete`, or `config` for a config step that removes keys.
    pub reason: String,
    /// What the step was about to do.
    pub step: String,
    /// VMID.
    pub vmid: u64,
    /// The node the guest was on.
    pub node: String,
    /// The task the step started, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
    /// The config, pending changes applied, secrets redacted.
    pub config: BTreeMap<String, String>,
    /// `GET .../pending` items with a change or deletion waiting, secrets redacted.
    #[serde(default)]
    pub pending: Vec<Value>,
}

/// A backup written before a step, to complete with the step's UPID.
#[derive(Debug)]
pub struct Taken {
    namespace: String,
    config_map: String,
    key: String,
    entry: Entry,
}

impl Taken {
    /// Where the backup is: `<namespace>/<ConfigMap>/<data key>`.
    pub fn location(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.config_map, self.key)
    }
}

/// Most characters of a ConfigMap name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The backup ConfigMap's name for the object `namespace/name` of `kind`: unique across
/// namespaces (a namespace holds no dot, so `<namespace>.<name>` is unambiguous), and when that
/// is too long, its head and a hash of the whole.
pub fn config_map_name(kind: &str, namespace: &str, name: &str) -> String {
    let full = format!(
        "kubepve-backup-{}-{namespace}.{name}",
        kind.to_ascii_lowercase()
    );
    if full.len() <= MAX_NAME {
        return full;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, full.as_bytes());
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // Object names are ASCII, so any byte index is a character boundary.
    let head = full[..MAX_NAME - hash.len() - 1].trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// The backup before `step` (a destroy, or a config step that removes keys). `Ok(None)`:
/// nothing to back up, go ahead.
pub async fn before<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    step: &Step,
) -> Result<Option<Taken>, Hold> {
    let reason = match step {
        Step::Delete { .. } => "delete",
        Step::SetConfig { delete, .. } if delete.iter().any(|k| observed.loses_on_removal(k)) => {
            "config"
        }
        _ => return Ok(None),
    };
    take(
        object,
        ctx,
        conn,
        vmid,
        observed,
        reason,
        &step.to_string(),
        step.name(),
    )
    .await
    .map(Some)
}

/// Saves the guest's config (pending changes applied) and its pending changes into the
/// object's backup ConfigMap before a destructive step (`reason`: `delete`, `config`,
/// `rollback`; `step` says what it is about to do), with an Event saying where.
#[allow(clippy::too_many_arguments)]
pub async fn take<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    conn: &Connection,
    vmid: u64,
    observed: &Observed,
    reason: &str,
    step: &str,
    action: &str,
) -> Result<Taken, Hold> {
    let kind = K::PVE_KIND;
    let vmid32 = u32::try_from(vmid).unwrap_or_default();
    let pending = conn
        .pve
        .guest(kind, &observed.node, vmid32)
        .pending()
        .await
        .map_err(proxmox("read pending changes", vmid))?;
    let now = Timestamp::now();
    let entry = Entry {
        time: now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        reason: reason.into(),
        step: step.into(),
        vmid,
        node: observed.node.clone(),
        upid: None,
        config: observed
            .config
            .iter()
            .filter(|(k, _)| k.as_str() != "digest")
            .map(|(k, v)| (k.clone(), shown(k, v).to_string()))
            .collect(),
        pending: redacted_pending(&pending),
    };
    // Sorts by time: the oldest key goes first when the ConfigMap is full.
    let stamp = now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
    let taken = Taken {
        namespace: ctx.backups.namespace.clone(),
        config_map: config_map_name(
            K::KIND,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
        ),
        key: format!("{stamp}-{reason}"),
        entry,
    };
    let key = store(object, ctx, &taken)
        .await
        .map_err(|e| Hold::Failed(GuestError::Kube(e)))?;
    let taken = Taken { key, ..taken };
    let expires = expiry(ctx);
    ctx.event(
        object,
        EventType::Normal,
        "ConfigBackedUp",
        action,
        format!(
            "saved the Proxmox config of VMID {vmid} before {}: ConfigMap {}/{} key {} (kept until {expires})",
            taken.entry.reason, taken.namespace, taken.config_map, taken.key
        ),
    )
    .await;
    Ok(taken)
}

/// After the step: record the UPID of the task it started in the backup. A failure to record
/// it is logged; the backup itself is already stored.
pub async fn after<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    taken: Option<Taken>,
    executed: &Result<Acted, pve_client::Error>,
) {
    let (Some(taken), Ok(Acted::Task(upid))) = (taken, executed) else {
        return;
    };
    record_upid(object, ctx, taken, upid).await;
}

/// Records in a backup the UPID of the task that followed it. A failure to record it is
/// logged; the backup itself is already stored.
pub async fn record_upid<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    mut taken: Taken,
    upid: &pve_client::Upid,
) {
    taken.entry.upid = Some(upid.to_string());
    if let Err(error) = store(object, ctx, &taken).await {
        tracing::warn!(%error, config_map = %taken.config_map, "could not record the UPID in the config backup");
    }
}

fn expiry(ctx: &GuestContext) -> String {
    let secs = i64::try_from(ctx.backups.retention.as_secs()).unwrap_or(i64::MAX / 2);
    Timestamp::from_second(Timestamp::now().as_second().saturating_add(secs))
        .unwrap_or(Timestamp::MAX)
        .to_string()
}

/// Adds (or replaces) the entry of `taken` in the object's ConfigMap, keeping the newest
/// entries within the count and size bounds. Returns the data key used.
async fn store<K: GuestObject>(
    object: &K,
    ctx: &GuestContext,
    taken: &Taken,
) -> Result<String, kube::Error> {
    let ns = &ctx.backups.namespace;
    let source_ns = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let mut data = api
        .get_opt(&taken.config_map)
        .await?
        .and_then(|cm| cm.data)
        .unwrap_or_default();
    // A second backup in the same second and for the same reason gets its own key; the UPID of
    // an entry is recorded under the key it already has.
    let mut key = taken.key.clone();
    let mut n = 1;
    while taken.entry.upid.is_none() && data.contains_key(&key) {
        n += 1;
        key = format!("{}-{n:03}", taken.key);
    }
    let text = serde_json::to_string_pretty(&taken.entry).unwrap_or_default();
    data.insert(key.clone(), text);
    let keep = ctx.backups.keep.max(1);
    while data.len() > keep
        || (data.len() > 1 && data.values().map(String::len).sum::<usize>() > MAX_BYTES)
    {
        let Some(oldest) = data.keys().find(|k| **k != key).cloned() else {
            break;
        };
        data.remove(&oldest);
    }
    let mut labels = json!({
        BACKUP_LABEL: "true",
        "app.kubernetes.io/managed-by": MANAGER,
        SOURCE_NAMESPACE_LABEL: source_ns,
        SOURCE_KIND_LABEL: K::KIND,
        SOURCE_UID_LABEL: object.uid().unwrap_or_default(),
    });
    if name.len() <= 63 {
        labels[SOURCE_NAME] = json!(name);
    }
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": taken.config_map,
            "namespace": ns,
            "labels": labels,
            "annotations": {
                EXPIRES_ANNOTATION: expiry(ctx),
                BACKUP_OF_ANNOTATION: format!("{}/{source_ns}/{name}", K::KIND),
                SOURCE_NAME: name,
            },
        },
        "data": data,
    });
    api.patch(
        &taken.config_map,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(cm),
    )
    .await?;
    Ok(key)
}

/// Deletes the backup ConfigMaps (in `namespace`, or everywhere) whose expiry has passed by
/// `now`. Returns their names.
pub async fn prune(
    client: &Client,
    namespace: Option<&str>,
    now: Timestamp,
) -> Result<Vec<String>, kube::Error> {
    let api: Api<ConfigMap> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = api
        .list(&ListParams::default().labels(&format!("{BACKUP_LABEL}=true")))
        .await?;
    let mut gone = Vec::new();
    for cm in list {
        let expired = cm
            .annotations()
            .get(EXPIRES_ANNOTATION)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .is_some_and(|t| t <= now);
        if !expired {
            continue;
        }
        let ns = cm.namespace().unwrap_or_default();
        let name = cm.name_any();
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .delete(&name, &DeleteParams::default())
            .await?;
        gone.push(format!("{ns}/{name}"));
    }
    Ok(gone)
}

/// Prunes expired backups now and then every `every`, until `shutdown`.
pub async fn pruner(
    client: Client,
    namespace: Option<String>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let work = async {
        loop {
            match prune(&client, namespace.as_deref(), Timestamp::now()).await {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(?gone, "deleted expired config backups");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not prune config backups"),
            }
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
}

/// Parses a retention such as `7d`, `36h`, `90m` or `600s` (plain numbers are seconds).
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{text:?} is too many seconds for a retention"));
    }
    crate::duration::parse(t, jiff::Unit::Day).ok_or_else(|| {
        format!("{text:?} is not a retention like 7d, 36h or 90m (units s, m, h or d)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_retention() {
        assert_eq!(
            config_map_name("ProxmoxVM", "team-a", "web-01"),
            "kubepve-backup-proxmoxvm-team-a.web-01"
        );
        // Unique across namespaces, also where a plain dash join would collide.
        assert_ne!(
            config_map_name("ProxmoxVM", "a-b", "c"),
            config_map_name("ProxmoxVM", "a", "b-c")
        );
        let long = config_map_name("ProxmoxVM", "team", &"a".repeat(300));
        let longer = config_map_name("ProxmoxVM", "team", &"a".repeat(301));
        assert!(long.len() <= 253 && longer.len() <= 253, "{long}");
        assert_ne!(
            long, longer,
            "names that share a long head differ by their hash"
        );
        assert_eq!(parse_retention("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_retention("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_retention("30"), Ok(Duration::from_secs(30)));
        assert!(parse_retention("1w").is_err() && parse_retention("soon").is_err());
        assert_eq!(shown("cipassword", "hunter2"), pve_client::REDACTED);
        assert_eq!(shown("memory", "2048"), "2048");
        let t: Timestamp = "2026-01-31T12:00:00.5Z".parse().unwrap();
        assert_eq!(
            t.strftime("%Y%m%dT%H%M%S%.3fZ").to_string(),
            "20260131T120000.500Z"
        );
    }
}
