//! Configuration backups. Before pvectl deletes a guest, or removes config keys, disks or NICs
//! from it, the guest's config (pending changes applied, as Proxmox shows it), its pending
//! changes and its snapshot names go to one JSON file under `$PVECTL_BACKUP_DIR`, else
//! `$XDG_STATE_HOME/pvectl/backups/`, else `~/.local/state/pvectl/backups/` (next to the
//! journal). Secret values (`cipassword`, `password`) are redacted before anything is written.
//! `pvectl backup list` and `pvectl backup show` read them back, and `pvectl vm create -f FILE`
//! re-creates the guest definition from one: the same settings with new, empty disks of the same
//! sizes (a config backup holds no disk data).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pve_client::types::GuestConfig;
use pve_client::{PropertyString, REDACTED};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::config::{BaseDir, xdg_dir};
use crate::exit::usage;
use crate::output::{now_secs, rfc3339};
use crate::select::GuestInfo;

/// The `kind` that marks a backup file.
pub const KIND: &str = "GuestConfigBackup";
/// The `apiVersion` of backup files.
pub const API_VERSION: &str = "pvectl.kubepve.io/v1";

/// One backup file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`KIND`].
    pub kind: String,
    /// When it was taken, RFC 3339 UTC.
    pub time: String,
    /// Why: `delete`, `update`, `apply`.
    pub reason: String,
    /// The pvectl context.
    pub context: String,
    /// `vm/150` or `ct/200`.
    pub guest: String,
    /// VMID.
    pub vmid: u32,
    /// The node the guest was on.
    pub node: String,
    /// Name or hostname.
    #[serde(default)]
    pub name: String,
    /// The config as `GET .../config` showed it (pending changes applied), secrets redacted.
    pub config: BTreeMap<String, Value>,
    /// `GET .../pending`: keys whose change waits for a restart, secrets redacted.
    #[serde(default)]
    pub pending: Vec<Value>,
    /// Snapshot names (they go with the guest when it is deleted).
    #[serde(default)]
    pub snapshots: Vec<String>,
}

/// Where backups live.
pub fn dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PVECTL_BACKUP_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    xdg_dir(BaseDir::State).join("pvectl/backups")
}

/// Save a backup of `g` whose config was just read; reads its pending changes. Returns the file.
pub async fn save(
    app: &App,
    g: &GuestInfo,
    config: &GuestConfig,
    snapshots: &[String],
    reason: &str,
) -> anyhow::Result<PathBuf> {
    let pending = app
        .conn
        .client
        .guest(g.kind, &g.node, g.vmid)
        .pending()
        .await
        .map_err(|e| crate::exit::pve_err("cannot read the pending changes", e))?;
    let backup = Backup {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        time: rfc3339(now_secs()),
        reason: reason.into(),
        context: app.conn.context.clone(),
        guest: g.label(),
        vmid: g.vmid,
        node: g.node.clone(),
        name: g.name.clone(),
        config: config.redacted().0,
        pending: pve_client::redacted_pending(&pending),
        snapshots: snapshots.to_vec(),
    };
    write(&dir(), &backup)
}

/// Write `backup` to a new file in `dir` (`vm-150-20250131T120000Z-delete.json`).
fn write(dir: &Path, backup: &Backup) -> anyhow::Result<PathBuf> {
    let fail = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot write the configuration backup to {}: {e} (set PVECTL_BACKUP_DIR to a \
             writable folder); nothing was changed",
            dir.display()
        )
    };
    crate::private::dir(dir).map_err(fail)?;
    let stamp: String = backup
        .time
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let stem = format!(
        "{}-{stamp}-{}",
        backup.guest.replace('/', "-"),
        backup.reason
    );
    let text = serde_json::to_string_pretty(backup)?;
    for n in 1..=100 {
        let name = if n == 1 {
            format!("{stem}.json")
        } else {
            format!("{stem}-{n}.json")
        };
        let path = dir.join(name);
        match crate::private::file_options()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, format!("{text}\n").as_bytes()).map_err(fail)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(e)),
        }
    }
    Err(anyhow::anyhow!(
        "too many backups of {} in the same second in {}",
        backup.guest,
        dir.display()
    ))
}

/// A parsed backup document, if `doc` is one.
pub fn parse(doc: &Value) -> anyhow::Result<Option<Backup>> {
    if doc.get("kind").and_then(Value::as_str) != Some(KIND) {
        return Ok(None);
    }
    serde_json::from_value(doc.clone())
        .map(Some)
        .map_err(|e| usage(format!("not a valid pvectl configuration backup: {e}")))
}

/// Keys a re-created guest must not copy: state of the old guest, not its definition.
const NOT_COPIED: &[&str] = &[
    "digest",
    "lock",
    // `creation-qemu=...,ctime=...`: Proxmox writes it itself and refuses it as a parameter.
    "meta",
    "parent",
    "vmgenid",
    "snaptime",
    "vmstate",
    "runningmachine",
    "runningcpu",
];

/// The raw config keys (with `vmid` and `node`) that re-create the guest of `backup`: settings
/// as they were last configured (pending changes applied), disks as new volumes of the same
/// size on the same storage, no unused disks, and no redacted secrets (returned by name, for
/// the caller to mention).
pub fn recreate_keys(backup: &Backup) -> (BTreeMap<String, String>, Vec<String>) {
    let mut keys = BTreeMap::new();
    let mut dropped = Vec::new();
    keys.insert("vmid".to_string(), backup.vmid.to_string());
    keys.insert("node".to_string(), backup.node.clone());
    let mut wanted = backup.config.clone();
    for p in &backup.pending {
        let Some(key) = p["key"].as_str() else {
            continue;
        };
        if p["delete"].as_u64().unwrap_or(0) > 0 {
            wanted.remove(key);
        } else if let Some(v) = p.get("pending") {
            wanted.insert(key.to_string(), v.clone());
        }
    }
    for (k, v) in &wanted {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        if NOT_COPIED.contains(&k.as_str()) || k.starts_with("unused") {
            continue;
        }
        if text == REDACTED {
            dropped.push(k.clone());
            continue;
        }
        let value = if pve_client::types::is_disk_key(k) {
            new_volume(&text)
        } else {
            text
        };
        keys.insert(k.clone(), value);
    }
    (keys, dropped)
}

/// `local-lvm:vm-150-disk-0,size=32G,discard=on` becomes `local-lvm:32,discard=on`; CD-ROMs
/// stay as they are; a cloud-init drive becomes `local-lvm:cloudinit`.
fn new_volume(text: &str) -> String {
    let Ok(mut ps) = PropertyString::parse(text) else {
        return text.to_string();
    };
    let volume = ps
        .default_or("volume")
        .or_else(|| ps.get("file"))
        .unwrap_or_default()
        .to_string();
    if ps.get("media") == Some("cdrom") && !volume.ends_with("cloudinit") {
        return text.to_string();
    }
    let Some((storage, _)) = volume.split_once(':') else {
        return text.to_string();
    };
    let new = if volume.ends_with("cloudinit") {
        format!("{storage}:cloudinit")
    } else {
        let bytes = ps
            .remove("size")
            .and_then(|s| pve_client::parse_size(&s).ok())
            .unwrap_or(1 << 30);
        let gib = bytes as f64 / f64::from(1u32 << 30);
        format!("{storage}:{}", (gib * 1000.0).ceil() / 1000.0)
    };
    ps.remove("size");
    if ps.default_value.is_some() {
        ps.default_value = Some(new);
    } else if ps.get("volume").is_some() {
        ps.set("volume", new);
    } else {
        ps.set("file", new);
    }
    ps.to_string()
}

/// Read one backup file; a file that is not one is a usage error naming it.
pub fn read(path: &Path) -> anyhow::Result<Backup> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{}: not JSON: {e}", path.display())))?;
    parse(&doc)?.ok_or_else(|| usage(format!("{}: not a pvectl backup", path.display())))
}

/// Every backup in [`dir`], unordered (files that are not backups are left out).
pub fn all() -> anyhow::Result<Vec<(PathBuf, Backup)>> {
    let dir = dir();
    match std::fs::read_dir(&dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| read(&p).ok().map(|b| (p, b)))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Backup {
        Backup {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            time: "2025-01-31T12:00:00Z".into(),
            reason: "delete".into(),
            context: "lab".into(),
            guest: "vm/150".into(),
            vmid: 150,
            node: "pve1".into(),
            name: String::new(),
            config: BTreeMap::new(),
            pending: vec![],
            snapshots: vec![],
        }
    }

    #[test]
    fn disks_become_new_volumes_of_the_same_size() {
        assert_eq!(
            new_volume("local-lvm:vm-150-disk-0,size=32G,discard=on"),
            "local-lvm:32,discard=on"
        );
        assert_eq!(
            new_volume("local:150/vm-150-disk-1.qcow2,size=512M"),
            "local:0.5"
        );
        assert_eq!(
            new_volume("local-lvm:vm-150-cloudinit,media=cdrom"),
            "local-lvm:cloudinit,media=cdrom"
        );
        let iso = "local:iso/debian.iso,media=cdrom";
        assert_eq!(new_volume(iso), iso);
        assert_eq!(
            new_volume("local-lvm:vm-200-disk-0,mp=/data,size=8G"),
            "local-lvm:8,mp=/data"
        );
    }

    #[test]
    fn recreate_drops_state_and_redacted_secrets() {
        let mut backup = sample();
        backup.name = "web".into();
        backup.config = [
            ("memory", json!(2048)),
            ("digest", json!("abc")),
            ("meta", json!("creation-qemu=9.0.2,ctime=1730000000")),
            ("cipassword", json!(REDACTED)),
            ("unused0", json!("local-lvm:vm-150-disk-9")),
            ("scsi0", json!("local-lvm:vm-150-disk-0,size=4G")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (keys, dropped) = recreate_keys(&backup);
        assert_eq!(dropped, vec!["cipassword".to_string()]);
        let want: BTreeMap<String, String> = [
            ("vmid", "150"),
            ("node", "pve1"),
            ("memory", "2048"),
            ("scsi0", "local-lvm:4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(keys, want);
    }

    #[test]
    fn files_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let b = sample();
        let first = write(dir.path(), &b).unwrap();
        let second = write(dir.path(), &b).unwrap();
        assert_eq!(
            first.file_name().unwrap().to_string_lossy(),
            "vm-150-20250131T120000Z-delete.json"
        );
        assert_ne!(first, second);
        assert_eq!(read(&second).unwrap(), b);
    }
}
