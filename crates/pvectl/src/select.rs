//! Guest selection: which guests a command acts on, from `/cluster/resources` (one read).
//!
//! Targets are VMIDs (`150`), names (`web-01`), comma lists (`150,151,web-03`), `--all`, or a
//! label selector `-l` over Proxmox tags. Proxmox tags cannot hold `=`, so pvectl stores a label
//! `key=value` as the tag `key.value` (the first `.` separates key and value; keys hold no
//! dots). Selectors follow kubectl's grammar ([`selector`]); a plain tag such as `web` matches
//! the selector `web`. Filters (`--status`, `--node`, `--template`)
//! narrow any selection. `vm` commands see only QEMU guests, `ct` commands only containers.

use std::collections::BTreeSet;

use clap::Args;
use pve_client::GuestKind;
use pve_client::types::ClusterResource;
use serde::Serialize;

use crate::config::Connection;
use crate::exit::usage;

mod selector;
pub use selector::Selector;

/// A guest as `/cluster/resources` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GuestInfo {
    /// The guest kind, shown as `vm` or `ct`.
    #[serde(serialize_with = "short_kind")]
    pub kind: GuestKind,
    /// VMID.
    pub vmid: u32,
    /// Name (VM) or hostname (container).
    pub name: String,
    /// Node.
    pub node: String,
    /// `running`, `stopped`, ...
    pub status: String,
    /// Template flag.
    pub template: bool,
    /// Tags, as Proxmox stores them.
    pub tags: Vec<String>,
    /// Resource pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Config lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// CPUs.
    pub cpus: f64,
    /// Memory, bytes.
    pub memory: u64,
    /// Boot disk size, bytes.
    pub disk: u64,
    /// HA state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hastate: Option<String>,
}

/// The fields `--sort-by` accepts for guests.
pub const SORT_FIELDS: &[&str] = &[
    "vmid", "name", "node", "status", "template", "pool", "lock", "cpus", "memory", "disk",
];

impl GuestInfo {
    /// From a `/cluster/resources` entry; `None` for anything but a guest.
    pub fn from_resource(r: &ClusterResource) -> Option<Self> {
        let kind = GuestKind::parse(&r.kind)?;
        Some(Self {
            kind,
            vmid: u32::try_from(r.vmid?).ok()?,
            name: r.name.clone().unwrap_or_default(),
            node: r.node.clone().unwrap_or_default(),
            status: r.status.clone().unwrap_or_else(|| "unknown".into()),
            template: r.template.unwrap_or(false),
            tags: split_tags(r.tags.as_deref().unwrap_or("")),
            pool: r.pool.clone().filter(|p| !p.is_empty()),
            lock: r.lock.clone().filter(|l| !l.is_empty()),
            cpus: r.maxcpu.unwrap_or_default(),
            memory: r.maxmem.unwrap_or_default(),
            disk: r.maxdisk.unwrap_or_default(),
            hastate: r.hastate.clone().filter(|h| !h.is_empty()),
        })
    }

    /// `vm/150`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.short(), self.vmid)
    }

    /// "cannot read the WHAT of vm/150: ..." for a failed read of this guest.
    pub fn read_failed(&self, what: &str, e: pve_client::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot read the {what} of {}: {}",
            self.label(),
            crate::exit::describe(&e)
        )
    }

    /// `vm/150 (web-01)`.
    pub fn display(&self) -> String {
        if self.name.is_empty() {
            self.label()
        } else {
            format!("{} ({})", self.label(), self.name)
        }
    }

    /// Whether the guest carries the kubepve operator's marks.
    pub fn owner_tags(&self) -> Vec<&str> {
        let owner = |t: &&str| t.starts_with(kubepve_api::OWNER_TAG_PREFIX);
        // A guest that `pvectl apply` created carries the same marks with a pvectl-derived
        // owner; only the operator's own marks mean "the operator will undo manual changes".
        let pvectl_owned = |t: &&str| {
            t.strip_prefix(kubepve_api::OWNER_TAG_PREFIX)
                .is_some_and(|uid| uid.starts_with(crate::manifest::PVECTL_UID_PREFIX))
        };
        let tags: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        if !tags.iter().any(|t| owner(t) && !pvectl_owned(t)) {
            return Vec::new();
        }
        tags.into_iter()
            .filter(|t| *t == kubepve_api::MANAGED_TAG || owner(t))
            .collect()
    }
}

/// The guests a mutating command acts on.
pub async fn resolve(
    conn: &Connection,
    kind: GuestKind,
    sel: &Selection,
) -> anyhow::Result<Vec<GuestInfo>> {
    let all = listed(conn, sel).await?;
    sel.resolve(kind, &all, true)
}

/// Every guest, after checking that a `--node` filter names a node of the cluster (a typo is
/// exit 2 with the node list, not an empty result).
pub async fn listed(conn: &Connection, sel: &Selection) -> anyhow::Result<Vec<GuestInfo>> {
    if let Some(node) = &sel.node {
        crate::preflight::node_exists(conn, node).await?;
    }
    all_guests(&conn.client).await
}

/// Proxmox tag text (`a;b`, `a,b` or `a b`) as a list.
pub fn split_tags(text: &str) -> Vec<String> {
    text.split([';', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A label (`env=prod`) or tag (`web`) as the Proxmox tag pvectl stores (`env.prod`, `web`).
pub fn label_to_tag(label: &str) -> anyhow::Result<String> {
    let tag = match label.split_once('=') {
        Some((k, v)) => {
            if k.contains('.') || k.is_empty() || v.is_empty() {
                return Err(usage(format!(
                    "label {label:?}: keys must be non-empty and hold no '.', values non-empty"
                )));
            }
            format!("{k}.{v}")
        }
        None => label.to_string(),
    };
    let ok = tag
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c));
    if !ok {
        return Err(usage(format!(
            "tag {tag:?} is not a valid Proxmox tag (letters, digits, _ + . -)"
        )));
    }
    Ok(tag)
}

/// Which guests: targets, `--all`, `-l`, and filters.
#[derive(Debug, Clone, Args, Default)]
pub struct Selection {
    /// VMIDs or names, or comma lists of them (`150,151,web-03`).
    #[arg(value_name = "ID|NAME")]
    pub targets: Vec<String>,
    /// Every guest of this kind (templates only with `--template true`).
    #[arg(long, short = 'A')]
    pub all: bool,
    /// Label selector over tags, kubectl grammar: `env=prod,tier!=db,app in (web,api),web,!legacy`
    /// (label `k=v` is tag `k.v`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Only guests with this status (`running`, `stopped`, ...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only guests on this node.
    #[arg(long)]
    pub node: Option<String>,
    /// Only templates (`true`) or only non-templates (`false`).
    #[arg(long, value_name = "true|false")]
    pub template: Option<bool>,
}

impl Selection {
    /// Whether anything selects guests (as opposed to filters only).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && !self.all && self.selector.is_none()
    }

    fn filters(&self, g: &GuestInfo, default_no_templates: bool) -> bool {
        self.status.as_ref().is_none_or(|s| &g.status == s)
            && self.node.as_ref().is_none_or(|n| &g.node == n)
            && match self.template {
                Some(t) => g.template == t,
                None => !(default_no_templates && g.template),
            }
    }

    /// The guests selected among `guests` (all of one kind already). `require` makes an empty
    /// selection a usage error (for mutating commands); list commands pass `false`.
    pub fn resolve(
        &self,
        kind: GuestKind,
        all_guests: &[GuestInfo],
        require: bool,
    ) -> anyhow::Result<Vec<GuestInfo>> {
        let noun = kind.noun();
        if require && self.is_empty() {
            return Err(usage(format!(
                "say which {noun}s: give VMIDs or names, --all, or -l SELECTOR"
            )));
        }
        let guests: Vec<&GuestInfo> = all_guests.iter().filter(|g| g.kind == kind).collect();
        let selector = self.selector.as_deref().map(Selector::parse).transpose()?;
        let mut out: Vec<GuestInfo> = Vec::new();
        let mut seen = BTreeSet::new();
        if self.targets.is_empty() {
            // --all, a selector, or (for lists) everything; templates only on request when
            // a mutating command selects by query.
            for g in &guests {
                if selector.as_ref().is_none_or(|s| s.matches(&g.tags))
                    && self.filters(g, require)
                    && seen.insert(g.vmid)
                {
                    out.push((*g).clone());
                }
            }
        } else {
            for target in self.targets.iter().flat_map(|t| t.split(',')) {
                let target = target.trim();
                if target.is_empty() {
                    continue;
                }
                for g in find(kind, target, &guests, all_guests)? {
                    if selector.as_ref().is_none_or(|s| s.matches(&g.tags))
                        && self.filters(&g, false)
                        && seen.insert(g.vmid)
                    {
                        out.push(g);
                    }
                }
            }
        }
        out.sort_by_key(|g| g.vmid);
        if require && out.is_empty() {
            return Err(crate::exit::Exit {
                code: crate::exit::FAILED,
                message: format!("no {noun} matches the selection"),
            }
            .into());
        }
        Ok(out)
    }
}

/// The kind as users see it in JSON and YAML output: `vm` or `ct`.
fn short_kind<S: serde::Serializer>(kind: &GuestKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.short())
}

fn find(
    kind: GuestKind,
    target: &str,
    guests: &[&GuestInfo],
    everything: &[GuestInfo],
) -> anyhow::Result<Vec<GuestInfo>> {
    let noun = kind.noun();
    let short = kind.short();
    let not_found = |what: String| -> anyhow::Error {
        crate::exit::Exit {
            code: crate::exit::FAILED,
            message: what,
        }
        .into()
    };
    if let Ok(vmid) = target.parse::<u32>() {
        if let Some(g) = guests.iter().find(|g| g.vmid == vmid) {
            return Ok(vec![(*g).clone()]);
        }
        if let Some(other) = everything.iter().find(|g| g.vmid == vmid) {
            return Err(usage(format!(
                "{vmid} is a {}, not a {noun}: use `pvectl {} ...`",
                other.kind.noun(),
                other.kind.short()
            )));
        }
        return Err(not_found(format!(
            "no {noun} with VMID {vmid} (see `pvectl {short} list`)"
        )));
    }
    let named: Vec<&&GuestInfo> = guests.iter().filter(|g| g.name == target).collect();
    match named.as_slice() {
        [one] => Ok(vec![(**one).clone()]),
        [] => Err(not_found(format!(
            "no {noun} named {target:?} (see `pvectl {short} list`)"
        ))),
        many => Err(usage(format!(
            "{} {noun}s are named {target:?} (VMIDs {}): use the VMID",
            many.len(),
            many.iter()
                .map(|g| g.vmid.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Every guest in the cluster.
pub async fn all_guests(client: &pve_client::Client) -> anyhow::Result<Vec<GuestInfo>> {
    let res = client
        .guests()
        .await
        .map_err(|e| anyhow::anyhow!("cannot list guests: {}", crate::exit::describe(&e)))?;
    Ok(guests_of(&res))
}

/// [`all_guests`] from one read of every resource, which also fills the invocation's node
/// and storage lists (`preflight::nodes`, `preflight::storages`): a create's node, storage and
/// capacity checks then cost no request.
pub async fn guests_and_nodes(conn: &crate::config::Connection) -> anyhow::Result<Vec<GuestInfo>> {
    let res = conn
        .client
        .cluster_resources(None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list guests: {}", crate::exit::describe(&e)))?;
    let nodes: Vec<_> = res.iter().filter_map(ClusterResource::node_info).collect();
    // A later round of the same invocation keeps the first answer (as a cached read would).
    if !nodes.is_empty() {
        let _ = conn.nodes.set(nodes);
        let storages = res
            .iter()
            .filter_map(|r| Some((r.node.clone()?, r.storage_info()?)))
            .collect();
        let _ = conn.storages.set(storages);
    }
    Ok(guests_of(&res))
}

fn guests_of(res: &[ClusterResource]) -> Vec<GuestInfo> {
    let guests: Vec<GuestInfo> = res.iter().filter_map(GuestInfo::from_resource).collect();
    for g in &guests {
        crate::journal::name_guest(&g.label(), &g.name);
    }
    guests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_operators_marks_count_as_operator_owned() {
        let guest = |t: &[&str]| GuestInfo {
            kind: GuestKind::Qemu,
            vmid: 150,
            name: "web".into(),
            node: "pve1".into(),
            status: "running".into(),
            template: false,
            tags: tags(t),
            pool: None,
            lock: None,
            cpus: 1.0,
            memory: 0,
            disk: 0,
            hastate: None,
        };
        let operator = guest(&["kubepve", "kubepve-owner-0a1b2c3d", "web"]);
        assert_eq!(operator.owner_tags(), ["kubepve", "kubepve-owner-0a1b2c3d"]);
        let applied = guest(&["kubepve", "kubepve-owner-pvectl-00112233aabbccdd", "web"]);
        assert!(
            applied.owner_tags().is_empty(),
            "a guest pvectl applied is not the operator's"
        );
        assert!(guest(&["web"]).owner_tags().is_empty());
    }

    #[test]
    fn labels_become_tags() {
        assert_eq!(label_to_tag("env=prod").unwrap(), "env.prod");
        assert_eq!(label_to_tag("web").unwrap(), "web");
        assert!(label_to_tag("bad tag").is_err());
        assert!(label_to_tag("a.b=c").is_err());
    }
}
