//! The flags of `vm create` and `ct create`: one group every create shares (`CommonCreate`),
//! flattened into each kind's own flag set, so `ct create --help` shows container flags and
//! container examples only (and `--hostname`), and `vm create --help` the VM ones; and the
//! config keys the flags make (`Wanted`), checked against the Proxmox schema before any request.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use pve_client::GuestKind;

use crate::clone::Device;
use crate::exit::usage;
use crate::params::{key_value, parse_mib, tags_of};
use crate::validate::ValidateMode;

/// Flags of every create.
#[derive(Debug, Args)]
pub struct CommonCreate {
    /// A file: raw Proxmox config keys (YAML/JSON map, may hold `vmid` and `node`), a
    /// manifest (created through `apply`), or a configuration backup from `pvectl backup list`
    /// (same settings, new empty disks of the same sizes).
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// How a manifest given with -f is checked against the CRD schema: `strict` refuses
    /// unknown fields, `warn` prints them and goes on, `ignore` (or `false`) drops them.
    #[arg(long, default_value = "strict", value_name = "MODE")]
    pub validate: ValidateMode,
    /// The VMID, 100 to 999999999 (default: the next free one).
    #[arg(long)]
    pub vmid: Option<u32>,
    /// The node (default: the context's node, the template's node, or the only online node).
    #[arg(long)]
    pub node: Option<String>,
    /// CPU cores (1 or more).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Memory: MiB, or with a unit (`4G`, `512M`); 16 MiB or more.
    #[arg(long)]
    pub memory: Option<String>,
    /// OS type (`l26`, `win11`, ... for VMs; `debian`, `ubuntu`, ... for containers).
    #[arg(long)]
    pub ostype: Option<String>,
    /// Tags or labels, comma-separated (`web,env=prod`).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Resource pool.
    #[arg(long)]
    pub pool: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Storage for new disks (and the target of a full clone).
    #[arg(long)]
    pub storage: Option<String>,
    /// Any other Proxmox config key, `KEY=VALUE` (repeatable; checked against the API schema).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Start the guest once created.
    #[arg(long)]
    pub start: bool,
    /// Create even when the node has less memory or fewer CPUs than asked for in total.
    #[arg(long)]
    pub ignore_capacity: bool,
    /// Print the requests and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `vm create`.
#[derive(Debug, Args)]
pub struct VmCreateArgs {
    #[command(flatten)]
    pub common: CommonCreate,
    #[command(flatten)]
    pub vm: VmOnly,
}

/// The flags only VMs have.
#[derive(Debug, Args)]
pub struct VmOnly {
    /// VM name (a DNS name: letters, digits, `-`, `.`).
    #[arg(long)]
    pub name: Option<String>,
    /// CPU sockets.
    #[arg(long)]
    pub sockets: Option<u32>,
    /// A disk `[SLOT=]STORAGE:SIZE_GB[,OPTIONS]`. Without a slot: the next free scsi slot
    /// (on a clone the template's disks stay). With the slot of a template's disk: grow it to
    /// that size (Proxmox cannot shrink disks).
    #[arg(long)]
    pub disk: Vec<String>,
    /// A NIC `[SLOT=]OPTIONS`, like `bridge=vmbr0[,tag=20]` (model virtio unless given).
    /// Without a slot: the next free netN (on a clone the template's NICs stay); with one:
    /// that NIC is set or replaced.
    #[arg(long)]
    pub net: Vec<String>,
    /// Clone this template (VMID or name), then apply the other flags.
    #[arg(long, conflicts_with = "clone_from")]
    pub template: Option<String>,
    /// Clone this VM or template (VMID or name), then apply the other flags.
    #[arg(long)]
    pub clone_from: Option<String>,
    /// Make a full clone (default: linked for templates).
    #[arg(long)]
    pub full: bool,
}

/// `ct create`.
#[derive(Debug, Args)]
pub struct CtCreateArgs {
    #[command(flatten)]
    pub common: CommonCreate,
    #[command(flatten)]
    pub ct: CtOnly,
}

/// The flags only containers have.
#[derive(Debug, Args)]
pub struct CtOnly {
    /// Container hostname (a DNS name).
    #[arg(long, visible_alias = "name")]
    pub hostname: Option<String>,
    /// Container template (`local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`).
    #[arg(long)]
    pub ostemplate: Option<String>,
    /// Root disk `STORAGE:SIZE_GB`.
    #[arg(long)]
    pub rootfs: Option<String>,
    /// A mount point `[SLOT=]STORAGE:SIZE_GB,mp=/PATH[,OPTIONS]` (slots mp0, mp1, ...).
    #[arg(long)]
    pub disk: Vec<String>,
    /// A NIC `[SLOT=]name=eth0,bridge=vmbr0,ip=dhcp`.
    #[arg(long)]
    pub net: Vec<String>,
    /// Swap: MiB, or with a unit.
    #[arg(long)]
    pub swap: Option<String>,
    /// Unprivileged container.
    #[arg(long)]
    pub unprivileged: bool,
    /// File holding the root password (never printed).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// File of SSH public keys for the root user.
    #[arg(long)]
    pub ssh_public_keys: Option<PathBuf>,
}

/// The kind-specific flags of one create.
#[derive(Debug, Clone, Copy)]
pub enum Only<'a> {
    /// `vm create`.
    Vm(&'a VmOnly),
    /// `ct create`.
    Ct(&'a CtOnly),
}

impl<'a> Only<'a> {
    /// Which kind of guest is created.
    pub fn kind(self) -> GuestKind {
        match self {
            Only::Vm(_) => GuestKind::Qemu,
            Only::Ct(_) => GuestKind::Lxc,
        }
    }

    /// `--name` / `--hostname`.
    pub fn name(self) -> Option<&'a str> {
        match self {
            Only::Vm(v) => v.name.as_deref(),
            Only::Ct(c) => c.hostname.as_deref(),
        }
    }

    /// `--disk`.
    pub fn disks(self) -> &'a [String] {
        match self {
            Only::Vm(v) => &v.disk,
            Only::Ct(c) => &c.disk,
        }
    }

    /// `--net`.
    pub fn nets(self) -> &'a [String] {
        match self {
            Only::Vm(v) => &v.net,
            Only::Ct(c) => &c.net,
        }
    }
}

/// The config a create sends, from flags and a raw-keys file, before any request.
pub struct Wanted {
    /// Plain config keys.
    pub keys: Vec<(String, String)>,
    /// `--disk` flags.
    pub disks: Vec<Device>,
    /// `--net` flags.
    pub nets: Vec<Device>,
    /// Keys only the create request takes (`ostemplate`, `password`, `storage`, ...).
    pub create_only: Vec<(String, String)>,
}

impl Wanted {
    /// Every flag checked against the Proxmox schema (exit 2 before anything is sent).
    pub fn validate(&self, ct: bool) -> anyhow::Result<()> {
        let bus = if ct { "mp0" } else { "scsi0" };
        let disks = self
            .disks
            .iter()
            .map(|d| (d.slot.as_deref().unwrap_or(bus), &*d.value));
        let nets = self
            .nets
            .iter()
            .map(|n| (n.slot.as_deref().unwrap_or("net0"), &*n.value));
        let plain = self
            .keys
            .iter()
            .chain(&self.create_only)
            .filter(|(k, _)| !matches!(k.as_str(), "password" | "ssh-public-keys"))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        crate::config_keys::validate(ct, plain.chain(disks).chain(nets))
    }

    /// The storages new volumes are allocated on (`--disk`, disk keys of `--set` or of a file,
    /// `--rootfs`, `--storage`).
    pub fn storages(&self) -> Vec<&str> {
        let keys = self.keys.iter().chain(&self.create_only);
        let mut out: Vec<&str> = self
            .disks
            .iter()
            .filter_map(|d| crate::preflight::new_volume_storage(&d.value))
            .chain(crate::preflight::new_volume_storages(
                keys.clone().map(|(k, v)| (k.as_str(), v.as_str())),
            ))
            .chain(
                keys.filter(|(k, _)| k == "storage")
                    .map(|(_, v)| v.as_str()),
            )
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Wanted {
    /// The config keys of the flags (and of a raw-keys file), checked for form only.
    pub fn of(
        a: &CommonCreate,
        only: Only<'_>,
        raw: BTreeMap<String, String>,
    ) -> anyhow::Result<Wanted> {
        let ct = matches!(only, Only::Ct(_));
        let mut keys: Vec<(String, String)> = raw.into_iter().collect();
        let mut put = |k: &str, v: String| keys.push((k.to_string(), v));
        if let Some(n) = only.name() {
            put(if ct { "hostname" } else { "name" }, n.to_string());
        }
        if let Some(c) = a.cores {
            put("cores", c.to_string());
        }
        if let Only::Vm(v) = only
            && let Some(s) = v.sockets
        {
            put("sockets", s.to_string());
        }
        if let Some(m) = &a.memory {
            put("memory", parse_mib(m)?.to_string());
        }
        if let Only::Ct(c) = only
            && let Some(s) = &c.swap
        {
            put("swap", parse_mib(s)?.to_string());
        }
        if let Some(o) = &a.ostype {
            put("ostype", o.clone());
        }
        if let Some(d) = &a.description {
            put("description", d.clone());
        }
        let tags = tags_of(&a.tags)?;
        if !tags.is_empty() {
            put("tags", tags.join(";"));
        }
        for kv in &a.set {
            let (k, v) = key_value(kv)?;
            put(&k, v);
        }
        let mut disks = Vec::new();
        for d in only.disks() {
            let device = match d
                .split_once('=')
                .filter(|(s, _)| !s.contains(':') && !s.contains(','))
            {
                Some((s, v)) => Device {
                    slot: Some(s.to_string()),
                    value: v.to_string(),
                },
                None => Device {
                    slot: None,
                    value: d.clone(),
                },
            };
            if ct && !device.value.contains("mp=") {
                return Err(usage(format!(
                    "container disk {d:?} needs a mount path: add ,mp=/path"
                )));
            }
            disks.push(device);
        }
        let mut nets = Vec::new();
        for n in only.nets() {
            let (slot, mut value) = match n.split_once('=').filter(|(s, _)| s.starts_with("net")) {
                Some((s, v)) => (Some(s.to_string()), v.to_string()),
                None => (None, n.clone()),
            };
            if !ct && value.starts_with("bridge=") {
                value = format!("virtio,{value}");
            }
            nets.push(Device { slot, value });
        }
        let mut create_only: Vec<(String, String)> = Vec::new();
        if let Only::Ct(a) = only {
            let ostemplate = a.ostemplate.clone().ok_or_else(|| {
            usage(
                "a container needs --ostemplate (see `pvectl storage content local --content vztmpl`)",
            )
        })?;
            create_only.push(("ostemplate".into(), ostemplate));
            if let Some(r) = &a.rootfs {
                create_only.push(("rootfs".into(), r.clone()));
            }
            if a.unprivileged {
                create_only.push(("unprivileged".into(), "1".into()));
            }
            if let Some(f) = &a.password_file {
                let pw = std::fs::read_to_string(f)
                    .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
                create_only.push(("password".into(), pw.trim().to_string()));
            }
            if let Some(f) = &a.ssh_public_keys {
                let keys = std::fs::read_to_string(f)
                    .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
                create_only.push(("ssh-public-keys".into(), keys.trim().to_string()));
            }
        }
        let cloned = matches!(only, Only::Vm(v) if v.template.is_some() || v.clone_from.is_some());
        if let Some(s) = &a.storage
            && !cloned
        {
            create_only.push(("storage".into(), s.clone()));
        }
        if let Some(p) = &a.pool
            && !cloned
        {
            create_only.push(("pool".into(), p.clone()));
        }
        Ok(Wanted {
            keys,
            disks,
            nets,
            create_only,
        })
    }
}
