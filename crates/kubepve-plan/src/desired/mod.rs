//! The desired guest: a validated, Proxmox-shaped view of a `ProxmoxVM` or `ProxmoxContainer`
//! spec, built once per reconcile by [`Desired::vm`] or [`Desired::container`].
//!
//! Conversion does the checks the CRD schema cannot (whole MiB, extraConfig keys, resolved
//! templates) and turns every spec field into a Proxmox config key with a comparison rule.
//! Unset optional fields produce no key, so the planner leaves Proxmox's (or the template's)
//! value alone.

mod ct;
mod extra;
mod vm;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kubepve_api::{
    DeleteOptions, DeletionPolicy, GuestCommon, MANAGED_TAG, OWNER_DESCRIPTION_PREFIX, Quantity,
    RestartPolicy, RunStrategy, ShutdownPolicy, owner_tag,
};
use serde::{Deserialize, Serialize};

use crate::compare::{Cmp, Setting};
use crate::error::PlanError;
use crate::format::{join_tags, normalise_tags};
use crate::params::Params;

/// Which Proxmox guest type: the one definition, shared with the client.
pub use pve_format::GuestKind;

/// Who the guest belongs to: the Kubernetes object and the VMID resolved for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The object's name; the default VM name or container hostname.
    pub name: String,
    /// The object's UID, written into the ownership marks.
    pub uid: String,
    /// spec.vmid, or the VMID the operator allocated and recorded in status.
    pub vmid: i64,
    /// The node chosen by placement when spec.node is unset (recorded in status before the
    /// guest is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Secret values the caller read from Kubernetes Secrets. Never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    /// The cloud-init password (VM) or root password (container).
    #[serde(default)]
    pub password: Option<String>,
    /// The text of the SSH keys Secret key, one key per line.
    #[serde(default)]
    pub ssh_keys: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| crate::params::REDACTED);
        f.debug_struct("Secrets")
            .field("password", &shown(&self.password))
            .field("ssh_keys", &shown(&self.ssh_keys))
            .finish()
    }
}

/// The template a VM is cloned from, as the caller resolved it (templateVmid as given, or
/// templateName looked up in `/cluster/resources`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// The template's VMID.
    pub vmid: i64,
    /// The node the template is on, when known; the clone is started there.
    #[serde(default)]
    pub node: Option<String>,
}

/// Where a guest comes from when it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `POST /nodes/{node}/qemu` or `/lxc` with every parameter.
    Create,
    /// `POST .../qemu/{template}/clone`, then a config step.
    Clone {
        template: TemplateRef,
        full: bool,
        storage: Option<String>,
    },
}

/// A disk or mount point the spec lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskWant {
    /// `scsi0`, `rootfs`, `mp0`, ...
    pub slot: String,
    pub storage: String,
    /// Whole GiB (rounded up from the spec).
    pub gib: u64,
    /// Drive options, including `mp=<path>` for a mount point.
    pub options: BTreeMap<String, String>,
}

impl DiskWant {
    /// The value that allocates this disk: `local-lvm:32,discard=on`.
    pub fn allocate(&self) -> String {
        let mut out = format!("{}:{}", self.storage, self.gib);
        for (k, v) in &self.options {
            out.push_str(&format!(",{k}={v}"));
        }
        out
    }
}

/// The desired guest. Build it with [`Desired::vm`] or [`Desired::container`].
#[derive(Clone, Debug)]
pub struct Desired {
    pub(crate) kind: GuestKind,
    pub(crate) vmid: i64,
    pub(crate) node: String,
    pub(crate) uid: String,
    pub(crate) source: Source,
    /// Managed config keys, compared on every plan.
    pub(crate) settings: BTreeMap<String, Setting>,
    pub(crate) disks: Vec<DiskWant>,
    /// Storage for a cloud-init drive to add when the VM has none.
    pub(crate) cloudinit_storage: Option<String>,
    /// Parameters only sent at creation (ostemplate, password, pool, ISO, ...).
    pub(crate) create_only: Params,
    pub(crate) pool: Option<String>,
    pub(crate) run_strategy: RunStrategy,
    pub(crate) restart_policy: RestartPolicy,
    pub(crate) shutdown: ShutdownPolicy,
    pub(crate) deletion_policy: DeletionPolicy,
    pub(crate) delete_options: DeleteOptions,
    /// Things the conversion adjusted (a disk size rounded up to whole GiB).
    pub(crate) warnings: Vec<String>,
    /// What the spec says about moving the guest between nodes.
    pub(crate) migration: crate::migration::MigrationWish,
}

impl Desired {
    /// The guest type.
    pub fn kind(&self) -> GuestKind {
        self.kind
    }

    /// The VMID.
    pub fn vmid(&self) -> i64 {
        self.vmid
    }

    /// The node the guest is created on.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The same guest created on `node` (the one placement chose).
    pub fn on_node(mut self, node: String) -> Self {
        self.node = node;
        self
    }

    /// The memory the spec asks for, in MiB (`None`: left as Proxmox or the template has it).
    pub fn memory_mib(&self) -> Option<u64> {
        let first = self.settings.get("memory")?.value.split(',').next()?.trim();
        first.strip_prefix("current=").unwrap_or(first).parse().ok()
    }

    /// The tag that marks the guest as this object's.
    pub fn owner_tag(&self) -> String {
        owner_tag(&self.uid)
    }

    /// The description line that marks a fresh clone as this object's.
    pub fn owner_line(&self) -> String {
        format!("{OWNER_DESCRIPTION_PREFIX}{}", self.uid)
    }

    /// What the conversion adjusted, for the user to see.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The desired state for deleting a guest: only what deletion needs (ownership, deletion
    /// policy, delete options, shutdown policy), so that a spec whose other fields no longer
    /// convert never blocks the deletion of its guest.
    pub fn for_deletion(
        kind: GuestKind,
        common: &GuestCommon,
        identity: &Identity,
    ) -> Result<Self, PlanError> {
        Self::common(kind, common, identity, Source::Create)
    }

    /// The fields every guest has, from [`GuestCommon`].
    fn common(
        kind: GuestKind,
        g: &GuestCommon,
        id: &Identity,
        source: Source,
    ) -> Result<Self, PlanError> {
        if !(100..=999_999_999).contains(&id.vmid) {
            return Err(PlanError::Vmid { vmid: id.vmid });
        }
        let mut d = Desired {
            kind,
            vmid: id.vmid,
            node: g
                .node
                .clone()
                .or_else(|| id.node.clone())
                .unwrap_or_default(),
            uid: id.uid.clone(),
            source,
            settings: BTreeMap::new(),
            disks: Vec::new(),
            cloudinit_storage: None,
            create_only: Params::new(),
            pool: g.pool.clone(),
            run_strategy: g.run_strategy,
            restart_policy: g.restart_policy,
            shutdown: g.shutdown.clone(),
            deletion_policy: g.deletion_policy,
            delete_options: g.delete_options.clone(),
            warnings: Vec::new(),
            migration: crate::migration::MigrationWish {
                spec_node: g.node.clone(),
                allowed_nodes: g
                    .placement
                    .as_ref()
                    .map(|p| p.allowed_nodes.clone())
                    .unwrap_or_default(),
                with_local_disks: false,
            },
        };
        let mut tags = normalise_tags(g.tags.iter().map(String::as_str));
        tags.insert(MANAGED_TAG.to_string());
        tags.insert(owner_tag(&id.uid));
        d.set("tags", join_tags(&tags), Cmp::Tags);
        if let Some(text) = &g.description {
            d.set("description", text.clone(), Cmp::Trimmed);
        }
        if let Some(p) = g.protection {
            d.set("protection", bool01(p), Cmp::Bool { default: false });
        }
        if let Some(b) = g.on_boot {
            d.set("onboot", bool01(b), Cmp::Bool { default: false });
        }
        if let Some(s) = &g.startup {
            let mut parts = Vec::new();
            for (k, v) in [
                ("order", s.order),
                ("up", s.up_seconds),
                ("down", s.down_seconds),
            ] {
                if let Some(v) = v {
                    parts.push(format!("{k}={v}"));
                }
            }
            let keys = ["order", "up", "down"].map(String::from).to_vec();
            d.set("startup", parts.join(","), Cmp::Props { keys });
        }
        if let Some(pool) = &g.pool {
            d.create_only.insert("pool", pool.clone());
        }
        Ok(d)
    }

    fn set(&mut self, key: &str, value: impl Into<String>, cmp: Cmp) {
        self.settings
            .insert(key.to_string(), Setting::new(value, cmp));
    }

    fn set_secret(&mut self, key: &str, value: impl Into<String>, cmp: Cmp) {
        self.settings
            .insert(key.to_string(), Setting::secret(value, cmp));
    }

    /// A disk the spec lists, rounded up to whole GiB with a warning.
    fn add_disk(
        &mut self,
        slot: &str,
        storage: &str,
        size: &Quantity,
        options: BTreeMap<String, String>,
        field: String,
    ) -> Result<(), PlanError> {
        let bytes = size.bytes().map_err(|source| PlanError::Quantity {
            field: format!("{field}.size"),
            source,
        })?;
        let gib = bytes.div_ceil(1 << 30).max(1);
        if gib << 30 != bytes {
            self.warnings.push(format!(
                "{field}.size: {size} is not a whole number of GiB; using {gib}Gi"
            ));
        }
        for key in options.keys() {
            if matches!(
                key.as_str(),
                "size" | "file" | "volume" | "media" | "import-from"
            ) || (key == "mp" && !slot.starts_with("mp"))
            {
                return Err(PlanError::ReservedOption {
                    field: format!("{field}.options"),
                    key: key.clone(),
                });
            }
        }
        self.disks.push(DiskWant {
            slot: slot.to_string(),
            storage: storage.to_string(),
            gib,
            options,
        });
        Ok(())
    }

    /// extraConfig entries, after checking them against the keys this kind's spec manages.
    fn add_extra(&mut self, extra: &BTreeMap<String, String>) -> Result<(), PlanError> {
        for (key, value) in extra {
            extra::check_key(self.kind, key)?;
            if value.contains(['\n', '\r']) {
                return Err(PlanError::ExtraConfigValue { key: key.clone() });
            }
            self.set(key, value.clone(), Cmp::Text);
        }
        Ok(())
    }
}

/// A quantity in whole MiB, for memory and swap.
fn mib(q: &Quantity, field: &str, min: u64) -> Result<u64, PlanError> {
    let bytes = q.bytes().map_err(|source| PlanError::Quantity {
        field: field.to_string(),
        source,
    })?;
    if bytes % (1 << 20) != 0 {
        return Err(PlanError::NotWholeMib {
            field: field.to_string(),
            value: q.0.clone(),
        });
    }
    let mib = bytes >> 20;
    if mib < min {
        return Err(PlanError::MemoryTooSmall {
            field: field.to_string(),
            value: q.0.clone(),
        });
    }
    if mib > u64::from(u32::MAX) {
        return Err(PlanError::TooLarge {
            field: field.to_string(),
            value: q.0.clone(),
        });
    }
    Ok(mib)
}

/// Proxmox booleans are `0`/`1`.
pub(crate) fn bool01(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Refuse lists that name a slot twice (the CRD's list-map keys catch this on the API server,
/// but `pvectl apply` reads files that never went through it).
fn unique_slots<'a>(
    field: &'static str,
    slots: impl IntoIterator<Item = &'a str>,
) -> Result<(), PlanError> {
    let mut seen = BTreeSet::new();
    for slot in slots {
        if !seen.insert(slot) {
            return Err(PlanError::DuplicateSlot {
                field,
                slot: slot.to_string(),
            });
        }
    }
    Ok(())
}
