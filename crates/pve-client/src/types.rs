//! Typed answers of the calls the operator and the CLI make. Fields PVE marks optional are
//! `Option`s; numbers are read leniently because PVE sends some as strings (`"memory":"2048"`,
//! nextid `"100"`), and booleans as `0`/`1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `GET /version`.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    /// `9.1.1`.
    pub version: String,
    /// `9.1`.
    pub release: String,
    /// Short git hash.
    #[serde(default)]
    pub repoid: Option<String>,
}

/// An item of `GET /nodes`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeInfo {
    /// Node name.
    pub node: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    /// The node certificate's SHA-256 fingerprint.
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
    /// CPU usage fraction.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cpu: Option<f64>,
    /// CPUs.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxcpu: Option<u64>,
    /// Used memory, bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub mem: Option<u64>,
    /// Memory, bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    /// Seconds up.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub uptime: Option<u64>,
}

/// `GET /nodes/{node}/status` (the fields kubepve reads, plus the rest as raw JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct NodeStatus {
    /// Seconds up.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub uptime: Option<u64>,
    /// `pve-manager/9.1.1/...`.
    #[serde(default)]
    pub pveversion: Option<String>,
    /// The other fields (cpuinfo, memory, rootfs, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An item of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageInfo {
    /// Storage id.
    pub storage: String,
    /// Storage type (`dir`, `lvmthin`, `rbd`, ...).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Allowed content, comma-separated (`images,rootdir`).
    #[serde(default)]
    pub content: Option<String>,
    /// Active on this node.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub active: Option<bool>,
    /// Enabled.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enabled: Option<bool>,
    /// Shared between nodes.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: Option<bool>,
    /// Bytes in total.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total: Option<u64>,
    /// Bytes used.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub used: Option<u64>,
    /// Bytes free.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub avail: Option<u64>,
}

/// An item of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageContent {
    /// `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub volid: String,
    /// `iso`, `vztmpl`, `images`, `rootdir`, `backup`.
    #[serde(default)]
    pub content: Option<String>,
    /// `raw`, `qcow2`, `iso`, `tzst`, ...
    #[serde(default)]
    pub format: Option<String>,
    /// Bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
    /// Owner VMID for images.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub vmid: Option<u64>,
}

/// An item of `GET /cluster/resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterResource {
    /// `qemu/100`, `lxc/101`, `node/pve`, `storage/pve/local`.
    pub id: String,
    /// `qemu`, `lxc`, `node`, `storage`, `pool`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Node.
    #[serde(default)]
    pub node: Option<String>,
    /// VMID for guests.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub vmid: Option<u64>,
    /// Guest name (may lag behind the config by ~10 s on PVE).
    #[serde(default)]
    pub name: Option<String>,
    /// `running`, `stopped`, `unknown`, `online`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Template flag.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: Option<bool>,
    /// Config lock.
    #[serde(default)]
    pub lock: Option<String>,
    /// Tags, `;`-separated.
    #[serde(default)]
    pub tags: Option<String>,
    /// Pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// HA state.
    #[serde(default)]
    pub hastate: Option<String>,
    /// Memory, bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    /// Memory in use, bytes (for a node: the host's used memory).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub mem: Option<u64>,
    /// Disk, bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxdisk: Option<u64>,
    /// CPUs.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub maxcpu: Option<f64>,
    /// Storage id, for a `storage` entry (one per node the storage is enabled on).
    #[serde(default)]
    pub storage: Option<String>,
    /// Allowed content of a storage, comma-separated (`images,rootdir`).
    #[serde(default)]
    pub content: Option<String>,
    /// Storage type of a storage (`dir`, `lvmthin`, `rbd`, ...).
    #[serde(default)]
    pub plugintype: Option<String>,
    /// Shared storage.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: Option<bool>,
    /// Disk in use, bytes (for a storage: its used space).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub disk: Option<u64>,
}

impl ClusterResource {
    /// True for QEMU VMs and LXC containers.
    pub fn is_guest(&self) -> bool {
        self.kind == "qemu" || self.kind == "lxc"
    }

    /// A `node` entry as `GET /nodes` lists it (name, status, CPUs, memory): one read for both.
    pub fn node_info(&self) -> Option<NodeInfo> {
        (self.kind == "node").then_some(())?;
        Some(NodeInfo {
            node: self.node.clone()?,
            status: self.status.clone().unwrap_or_else(|| "unknown".into()),
            maxcpu: self.maxcpu.map(|c| c.round() as u64),
            mem: self.mem,
            maxmem: self.maxmem,
            ..NodeInfo::default()
        })
    }

    /// A `storage` entry as `GET /nodes/{node}/storage` lists it for its node: one read for
    /// both. `/cluster/resources` lists a storage only on the nodes it is enabled on, so the
    /// entry is enabled; `active` follows its status (`available`).
    pub fn storage_info(&self) -> Option<StorageInfo> {
        (self.kind == "storage").then_some(())?;
        let total = self.maxdisk;
        let used = self.disk;
        Some(StorageInfo {
            storage: self.storage.clone()?,
            kind: self.plugintype.clone(),
            content: self.content.clone(),
            active: self.status.as_deref().map(|s| s == "available"),
            enabled: Some(true),
            shared: self.shared,
            total,
            used,
            avail: total.zip(used).map(|(t, u)| t.saturating_sub(u)),
        })
    }
}

/// An item of `GET /pools`.
#[derive(Debug, Clone, Deserialize)]
pub struct Pool {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `GET .../status/current`, and the items of the guest lists.
#[derive(Debug, Clone, Deserialize)]
pub struct GuestStatus {
    /// VMID.
    #[serde(deserialize_with = "lenient_u64_req")]
    pub vmid: u64,
    /// `running` or `stopped`.
    pub status: String,
    /// QMP run state (`running`, `paused`, ...); QEMU only.
    #[serde(default)]
    pub qmpstatus: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Config lock.
    #[serde(default)]
    pub lock: Option<String>,
    /// Seconds up.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub uptime: Option<u64>,
    /// Memory, bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<String>,
    /// Template flag.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: Option<bool>,
}

impl GuestStatus {
    /// Running and not paused.
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// A guest config as `GET .../config` returns it: raw keys, property-string values.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct GuestConfig(pub BTreeMap<String, Value>);

impl GuestConfig {
    /// The value of `key` as text (numbers printed, as PVE would write them).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    /// The config digest, for optimistic concurrency on updates.
    pub fn digest(&self) -> Option<String> {
        self.get("digest")
    }
}

impl GuestConfig {
    /// Whether a disk of this guest is built on a base disk of template `template`
    /// (`local-lvm:base-9000-disk-0/vm-101-disk-0`): a linked clone, which breaks if the
    /// template goes.
    pub fn is_linked_clone_of(&self, template: u32) -> bool {
        self.linked_templates().contains(&template)
    }

    /// The templates whose base disks this guest's disks are built on (a linked clone of
    /// them), in slot order; empty for a template itself or an independent guest.
    pub fn linked_templates(&self) -> Vec<u32> {
        if self.0.get("template").is_some_and(|t| t == 1 || t == "1") {
            return Vec::new();
        }
        let mut out: Vec<u32> = self
            .0
            .iter()
            .filter(|(k, _)| is_disk_key(k))
            .filter_map(|(_, v)| v.as_str())
            .flat_map(|v| {
                let volume = v.split(',').next().unwrap_or_default();
                volume
                    .split([':', '/'])
                    .filter_map(|part| part.strip_prefix("base-")?.split_once("-disk-"))
                    .filter_map(|(vmid, _)| vmid.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        out.dedup();
        out
    }
}

/// Whether `key` is a disk slot of a guest config (`scsi0`, `virtio1`, `rootfs`, `mp0`,
/// `unused0`, `efidisk0`, `tpmstate0`, ...).
pub fn is_disk_key(key: &str) -> bool {
    let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let numbered = stem.len() < key.len();
    (numbered && matches!(stem, "scsi" | "virtio" | "sata" | "ide" | "mp" | "unused"))
        || matches!(key, "rootfs" | "efidisk0" | "tpmstate0")
}

/// An item of `GET .../pending` (see the `pending` module for what it means).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PendingItem {
    /// Config key.
    pub key: String,
    /// Current value.
    #[serde(default)]
    pub value: Option<Value>,
    /// Value after the next start.
    #[serde(default)]
    pub pending: Option<Value>,
    /// 1 (or 2 for force) when the key will be deleted.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub delete: Option<u64>,
}

/// An item of `GET .../snapshot` (QEMU and LXC). PVE lists the live state as a pseudo snapshot
/// named `current`; [`Snapshot::is_current`] tells it apart.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Snapshot name (`current` for the live state).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Parent snapshot.
    #[serde(default)]
    pub parent: Option<String>,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub snaptime: Option<u64>,
    /// Includes RAM (QEMU).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub vmstate: Option<bool>,
}

impl Snapshot {
    /// True for the `current` pseudo snapshot (the live state, not a snapshot).
    pub fn is_current(&self) -> bool {
        self.name == "current"
    }
}

/// An item of `GET /cluster/ha/resources`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct HaResource {
    /// `vm:100` or `ct:101`.
    pub sid: String,
    /// Requested state (`started`, `stopped`, `disabled`, `ignored`).
    #[serde(default)]
    pub state: Option<String>,
    /// HA group.
    #[serde(default)]
    pub group: Option<String>,
}

impl HaResource {
    /// The VMID the resource manages (`vm:100` gives 100).
    pub fn vmid(&self) -> Option<u32> {
        self.sid.rsplit(':').next()?.parse().ok()
    }
}

/// An item of `GET /cluster/replication`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ReplicationJob {
    /// `<guest>-<jobnum>`.
    pub id: String,
    /// The guest's VMID.
    #[serde(deserialize_with = "lenient_u64_req")]
    pub guest: u64,
    /// Target node.
    #[serde(default)]
    pub target: Option<String>,
    /// Schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Disabled.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub disable: Option<bool>,
}

/// An item of `GET /cluster/backup` (vzdump jobs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BackupJob {
    /// Job id.
    pub id: String,
    /// The VMIDs the job names, comma-separated (absent for `all` or pool jobs).
    #[serde(default)]
    pub vmid: Option<String>,
    /// Backs up every guest (except `exclude`).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub all: Option<bool>,
    /// Guests excluded from an `all` job.
    #[serde(default)]
    pub exclude: Option<String>,
    /// Schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Target storage.
    #[serde(default)]
    pub storage: Option<String>,
    /// Enabled (default true).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enabled: Option<bool>,
}

impl BackupJob {
    /// True when the job names `vmid` in its list (what `purge` removes). `all` and pool jobs
    /// pick guests when they run and keep working after a guest is gone.
    pub fn names(&self, vmid: u32) -> bool {
        self.vmid.as_deref().is_some_and(|list| {
            list.split(',')
                .any(|v| v.trim().parse::<u32>().ok() == Some(vmid))
        })
    }
}

pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

pub(crate) fn lenient_u64_req<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    lenient_u64(d)?.ok_or_else(|| serde::de::Error::custom("expected an integer"))
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => n.as_i64().map(|i| i != 0),
        Some(Value::String(s)) => Some(s == "1" || s == "true"),
        _ => None,
    })
}

pub(crate) use lenient_u64 as de_u64;
pub(crate) use lenient_u64_req as de_u64_req;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_ha_name_their_guests() {
        let job: BackupJob =
            serde_json::from_value(serde_json::json!({"id": "backup-1", "vmid": "101, 150,1500"}))
                .unwrap();
        assert!(job.names(150) && job.names(101) && !job.names(15));
        let all: BackupJob =
            serde_json::from_value(serde_json::json!({"id": "b2", "all": 1})).unwrap();
        assert!(!all.names(150));
        let ha: HaResource = serde_json::from_value(serde_json::json!({"sid": "ct:200"})).unwrap();
        assert_eq!(ha.vmid(), Some(200));
        let snaps: Vec<Snapshot> = serde_json::from_value(serde_json::json!([
            {"name": "pre-upgrade", "snaptime": "1700000000", "vmstate": 0, "description": ""},
            {"name": "current", "description": "You are here!"}
        ]))
        .unwrap();
        assert_eq!(snaps[0].snaptime, Some(1_700_000_000));
        assert!(!snaps[0].is_current() && snaps[1].is_current());
    }

    #[test]
    fn disk_keys_and_linked_clones() {
        assert!(is_disk_key("scsi0") && is_disk_key("rootfs") && is_disk_key("mp3"));
        assert!(!is_disk_key("net0") && !is_disk_key("scsihw") && !is_disk_key("ide"));
        let config = |pairs: &[(&str, &str)]| {
            GuestConfig(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(*v)))
                    .collect(),
            )
        };
        let lvm = config(&[("scsi0", "local-lvm:base-9000-disk-0/vm-101-disk-0,size=8G")]);
        let dir = config(&[(
            "virtio0",
            "local:9000/base-9000-disk-0.qcow2/102/vm-102-disk-0.qcow2",
        )]);
        let full = config(&[("scsi0", "local-lvm:vm-103-disk-0,size=8G")]);
        let other = config(&[("scsi0", "local-lvm:base-90001-disk-0/vm-104-disk-0")]);
        let notes = config(&[("description", "cloned from base-9000-disk-0")]);
        let template = config(&[("scsi0", "local-lvm:base-9000-disk-0"), ("template", "1")]);
        assert!(lvm.is_linked_clone_of(9000) && dir.is_linked_clone_of(9000));
        assert!(!full.is_linked_clone_of(9000) && !other.is_linked_clone_of(9000));
        assert!(!notes.is_linked_clone_of(9000) && !template.is_linked_clone_of(9000));
    }
}
