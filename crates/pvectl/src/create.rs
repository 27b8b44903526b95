//! `create` (from flags, a file of raw Proxmox keys, or a ProxmoxVM/ProxmoxContainer manifest,
//! which goes through `apply`), and the flag helpers `update` shares. Memory takes MiB or a unit
//! (`4G`, `512M`); `--tags` takes tags and labels (`env=prod` becomes the tag `env.prod`, see
//! the selector convention).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use pve_client::{CloneOptions, Params, Upid};

use crate::App;
use crate::exit::{self, usage};
use crate::select::{self, GuestInfo, Selection, label_to_tag};

/// `create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A file: raw Proxmox config keys (YAML/JSON map, may hold `vmid` and `node`), a
    /// ProxmoxVM/ProxmoxContainer manifest (created through `apply`), or a configuration backup
    /// from `pvectl backup list` (same settings, new empty disks of the same sizes).
    #[arg(short = 'f', long = "filename")]
    pub file: Option<PathBuf>,
    /// The VMID (default: the next free one).
    #[arg(long)]
    pub vmid: Option<u32>,
    /// VM name, or container hostname.
    #[arg(long, alias = "hostname")]
    pub name: Option<String>,
    /// The node (default: the context's node, the template's node, or the only online node).
    #[arg(long)]
    pub node: Option<String>,
    /// CPU cores.
    #[arg(long)]
    pub cores: Option<u32>,
    /// CPU sockets (VMs).
    #[arg(long)]
    pub sockets: Option<u32>,
    /// Memory: MiB, or with a unit (`4G`, `512M`).
    #[arg(long)]
    pub memory: Option<String>,
    /// Swap for containers: MiB, or with a unit.
    #[arg(long)]
    pub swap: Option<String>,
    /// OS type (`l26`, `win11`, ... for VMs; `debian`, ... for containers).
    #[arg(long)]
    pub ostype: Option<String>,
    /// A disk `[SLOT=]STORAGE:SIZE_GB[,OPTIONS]` (VMs: scsi0, scsi1, ...; containers: mp0, ...).
    #[arg(long)]
    pub disk: Vec<String>,
    /// A NIC `[SLOT=]OPTIONS`: VMs `bridge=vmbr0[,tag=20]` (model virtio unless given),
    /// containers `name=eth0,bridge=vmbr0,ip=dhcp`.
    #[arg(long)]
    pub net: Vec<String>,
    /// Tags or labels, comma-separated (`web,env=prod`).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Resource pool.
    #[arg(long)]
    pub pool: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Clone this template (VMID or name), then apply the other flags.
    #[arg(long, conflicts_with = "clone_from")]
    pub template: Option<String>,
    /// Clone this VM or template (VMID or name), then apply the other flags.
    #[arg(long)]
    pub clone_from: Option<String>,
    /// Make a full clone (default: linked for templates).
    #[arg(long)]
    pub full: bool,
    /// Storage for new disks (and the target of a full clone).
    #[arg(long)]
    pub storage: Option<String>,
    /// Container template (`local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`).
    #[arg(long)]
    pub ostemplate: Option<String>,
    /// Container root disk `STORAGE:SIZE_GB`.
    #[arg(long)]
    pub rootfs: Option<String>,
    /// Unprivileged container.
    #[arg(long)]
    pub unprivileged: bool,
    /// File holding the container's root password (never printed).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// File of SSH public keys for the container's root user.
    #[arg(long)]
    pub ssh_public_keys: Option<PathBuf>,
    /// Any other Proxmox config key, `KEY=VALUE` (repeatable).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Start the guest once created.
    #[arg(long)]
    pub start: bool,
    /// Create even when the node has less memory or fewer CPUs than asked for in total.
    #[arg(long)]
    pub ignore_capacity: bool,
    /// Print the request and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// MiB from `4096`, `4G`, `4Gi`, `512M`, `1T`.
pub fn parse_mib(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| usage(format!("{text:?}: expected MiB or a size like 4G")))?;
    let mult = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" | "M" => 1,
        "G" => 1024,
        "T" => 1024 * 1024,
        _ => return Err(usage(format!("{text:?}: unknown unit (use M, G or T)"))),
    };
    Ok(n * mult)
}

pub(crate) fn key_value(text: &str) -> anyhow::Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| usage(format!("{text:?}: expected KEY=VALUE")))
}

pub(crate) fn tags_of(labels: &[String]) -> anyhow::Result<Vec<String>> {
    labels
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| label_to_tag(l))
        .collect()
}

/// A raw-keys file as a map.
pub(crate) fn raw_keys(path: &std::path::Path) -> anyhow::Result<BTreeMap<String, String>> {
    let docs = crate::manifest::documents(path)?;
    let [doc] = docs.as_slice() else {
        return Err(usage(format!("{}: expected one document", path.display())));
    };
    let obj = doc
        .as_object()
        .ok_or_else(|| usage(format!("{}: expected a map of config keys", path.display())))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => u8::from(*b).to_string(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect())
}

fn shown(params: &Params) -> String {
    params
        .pairs()
        .iter()
        .map(|(k, v)| {
            if crate::guest::is_secret_key(k) {
                format!("{k}={}", crate::config::REDACTED)
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn pve_err(what: &str, e: pve_client::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", exit::describe(&e))
}

/// Run `create`.
pub async fn create(app: &App, kind: &str, a: &CreateArgs) -> anyhow::Result<()> {
    let ct = kind == "ct";
    let mut raw = BTreeMap::new();
    if let Some(f) = &a.file {
        let docs = crate::manifest::documents(f)?;
        if docs
            .iter()
            .any(|d| matches!(d["kind"].as_str(), Some("ProxmoxVM" | "ProxmoxContainer")))
        {
            let args = crate::apply::ApplyArgs {
                files: vec![f.clone()],
                secret_file: vec![],
                dry_run: a.dry_run,
                adopt: false,
            };
            return crate::apply::apply(app, &args).await;
        }
        raw = match docs.as_slice() {
            [doc] => match crate::backup::parse(doc)? {
                Some(backup) => from_backup(app, kind, &backup)?,
                None => raw_keys(f)?,
            },
            _ => raw_keys(f)?,
        };
    }
    let client = &app.conn.client;
    let guests = select::all_guests(client).await?;
    let vmid = match a
        .vmid
        .or_else(|| raw.remove("vmid").and_then(|v| v.parse().ok()))
    {
        Some(v) => {
            if let Some(g) = guests.iter().find(|g| g.vmid == v) {
                return Err(usage(format!(
                    "VMID {v} is taken by {}; choose another or omit --vmid",
                    g.display()
                )));
            }
            v
        }
        None => client
            .next_id(None)
            .await
            .map_err(|e| pve_err("cannot allocate a VMID", e))?,
    };
    let source_name = a.template.as_ref().or(a.clone_from.as_ref());
    if ct && source_name.is_some() {
        return Err(usage(
            "containers are created from --ostemplate, not cloned by pvectl",
        ));
    }
    let source: Option<GuestInfo> = match source_name {
        Some(s) => {
            let sel = Selection {
                targets: vec![s.clone()],
                ..Default::default()
            };
            let found = sel.resolve("vm", &guests, true)?.remove(0);
            if a.template.is_some() && !found.template {
                return Err(usage(format!(
                    "{} is not a template; use --clone-from to clone a VM",
                    found.display()
                )));
            }
            Some(found)
        }
        None => None,
    };
    let node = match a
        .node
        .clone()
        .or_else(|| raw.remove("node"))
        .or_else(|| app.conn.node.clone())
        .or_else(|| source.as_ref().map(|s| s.node.clone()))
    {
        Some(n) => n,
        None => {
            let nodes: Vec<String> = client
                .nodes()
                .await
                .map_err(|e| pve_err("cannot list nodes", e))?
                .into_iter()
                .filter(|n| n.status == "online")
                .map(|n| n.node)
                .collect();
            match nodes.as_slice() {
                [one] => one.clone(),
                _ => {
                    return Err(usage(format!(
                        "several nodes ({}): pass --node",
                        nodes.join(", ")
                    )));
                }
            }
        }
    };
    // The config keys from flags.
    let mut config: Vec<(String, String)> = raw.into_iter().collect();
    let mut put = |k: &str, v: String| config.push((k.to_string(), v));
    if let Some(n) = &a.name {
        put(if ct { "hostname" } else { "name" }, n.clone());
    }
    if let Some(c) = a.cores {
        put("cores", c.to_string());
    }
    if let Some(s) = a.sockets {
        put("sockets", s.to_string());
    }
    if let Some(m) = &a.memory {
        put("memory", parse_mib(m)?.to_string());
    }
    if let Some(s) = &a.swap {
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
    for (i, d) in a.disk.iter().enumerate() {
        let (slot, value) = match d
            .split_once('=')
            .filter(|(s, _)| !s.contains(':') && !s.contains(','))
        {
            Some((s, v)) => (s.to_string(), v.to_string()),
            None => (format!("{}{i}", if ct { "mp" } else { "scsi" }), d.clone()),
        };
        if ct && !value.contains("mp=") {
            return Err(usage(format!(
                "container disk {d:?} needs a mount path: add ,mp=/path"
            )));
        }
        put(&slot, value);
    }
    for (i, n) in a.net.iter().enumerate() {
        let (slot, mut value) = match n.split_once('=').filter(|(s, _)| s.starts_with("net")) {
            Some((s, v)) => (s.to_string(), v.to_string()),
            None => (format!("net{i}"), n.clone()),
        };
        if !ct && value.starts_with("bridge=") {
            value = format!("virtio,{value}");
        }
        put(&slot, value);
    }
    for kv in &a.set {
        let (k, v) = key_value(kv)?;
        put(&k, v);
    }
    let mut create_only: Vec<(String, String)> = Vec::new();
    if ct {
        let ostemplate = a.ostemplate.clone().ok_or_else(|| usage("a container needs --ostemplate (see `pvectl storage content local --content vztmpl`)"))?;
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
    if let Some(s) = &a.storage
        && source.is_none()
    {
        create_only.push(("storage".into(), s.clone()));
    }
    if let Some(p) = &a.pool
        && source.is_none()
    {
        create_only.push(("pool".into(), p.clone()));
    }
    let number = |k: &str| {
        config
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let cpus = (number("cores").is_some() || number("sockets").is_some())
        .then(|| number("cores").unwrap_or(1) * number("sockets").unwrap_or(1));
    crate::capacity::check(app, &node, number("memory"), cpus, a.ignore_capacity).await?;
    let label = format!("{kind}/{vmid}");
    let mut record = app.record();
    record.guests.push(label.clone());
    let result = run_create(
        app,
        kind,
        vmid,
        &node,
        source.as_ref(),
        a,
        config,
        create_only,
        &mut record.upids,
    )
    .await;
    if a.dry_run {
        return result;
    }
    if let Err(e) = &result {
        record.outcome = "failed".into();
        record.error = Some(format!("{e:#}"));
    }
    crate::journal::append(&record);
    result
}

/// The raw keys that re-create the guest of a configuration backup.
fn from_backup(
    app: &App,
    kind: &str,
    backup: &crate::backup::Backup,
) -> anyhow::Result<BTreeMap<String, String>> {
    if !backup.guest.starts_with(&format!("{kind}/")) {
        return Err(usage(format!(
            "the backup is of {}: use `pvectl {} create -f`",
            backup.guest,
            backup.guest.split('/').next().unwrap_or_default()
        )));
    }
    let (keys, dropped) = crate::backup::recreate_keys(backup);
    if !dropped.is_empty() {
        app.progress.note(&format!(
            "note: {} not restored (redacted in the backup): set it again with --set",
            dropped.join(", ")
        ));
    }
    Ok(keys)
}

#[allow(clippy::too_many_arguments)]
async fn run_create(
    app: &App,
    kind: &str,
    vmid: u32,
    node: &str,
    source: Option<&GuestInfo>,
    a: &CreateArgs,
    config: Vec<(String, String)>,
    create_only: Vec<(String, String)>,
    upids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let pk = if kind == "ct" {
        pve_client::GuestKind::Lxc
    } else {
        pve_client::GuestKind::Qemu
    };
    let label = format!("{kind}/{vmid}");
    let wait = |upid: Upid| async move {
        crate::progress::wait(
            client,
            &upid,
            &label_of(kind, vmid),
            app.wait,
            &app.progress,
        )
        .await
    };
    let config_params: Params = config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(src) = source {
        let opts = CloneOptions {
            name: a.name.clone(),
            full: a.full.then_some(true),
            storage: a.storage.clone(),
            target: (src.node != node).then(|| node.to_string()),
            pool: a.pool.clone(),
            description: None,
        };
        let rest: Params = config
            .iter()
            .filter(|(k, _)| k != "name")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if a.dry_run {
            println!(
                "{label}: would clone {} to {vmid} on {node} (dry run)",
                src.display()
            );
            if !rest.is_empty() {
                println!("{label}: would set {} (dry run)", shown(&rest));
            }
            if a.start {
                println!("{label}: would start (dry run)");
            }
            return Ok(());
        }
        let upid = client
            .guest(pk, &src.node, src.vmid)
            .clone_to(vmid, &opts)
            .await
            .map_err(|e| pve_err("clone failed", e))?;
        println!("{label} {} {upid}", upid.task_type);
        upids.push(upid.to_string());
        // The clone must exist before it can be configured or started.
        wait(upid).await?;
        if !rest.is_empty() {
            client
                .guest(pk, node, vmid)
                .update_config(rest)
                .await
                .map_err(|e| pve_err("cannot configure the clone", e))?;
            println!("{label} configured");
        }
        if a.start {
            let upid = client
                .guest(pk, node, vmid)
                .start()
                .await
                .map_err(|e| pve_err("start failed", e))?;
            println!("{label} {} {upid}", upid.task_type);
            upids.push(upid.to_string());
            if !app.wait.no_wait {
                wait(upid).await?;
            }
        }
        println!("{label} created");
        return Ok(());
    }
    let mut params = config_params;
    for (k, v) in create_only {
        params.push(&k, v);
    }
    if a.start {
        params.push("start", 1);
    }
    if a.dry_run {
        println!(
            "{label}: would POST nodes/{node}/{} vmid={vmid} {} (dry run)",
            pk.as_str(),
            shown(&params)
        );
        return Ok(());
    }
    let upid = match pk {
        pve_client::GuestKind::Qemu => client.create_qemu(node, vmid, params).await,
        pve_client::GuestKind::Lxc => {
            let ostemplate = params
                .pairs()
                .iter()
                .find(|(k, _)| k == "ostemplate")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let rest: Params = params
                .pairs()
                .iter()
                .filter(|(k, _)| k != "ostemplate")
                .cloned()
                .collect();
            client.create_lxc(node, vmid, &ostemplate, rest).await
        }
    }
    .map_err(|e| pve_err("create failed", e))?;
    println!("{label} {} {upid}", upid.task_type);
    upids.push(upid.to_string());
    if !app.wait.no_wait {
        wait(upid).await?;
        println!("{label} created");
    }
    Ok(())
}

fn label_of(kind: &str, vmid: u32) -> String {
    format!("{kind}/{vmid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_mib("4096").unwrap(), 4096);
        assert_eq!(parse_mib("4G").unwrap(), 4096);
        assert_eq!(parse_mib("4Gi").unwrap(), 4096);
        assert_eq!(parse_mib("512M").unwrap(), 512);
        assert!(parse_mib("4X").is_err());
    }
}
