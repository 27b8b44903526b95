//! `create`: from flags, a file of raw Proxmox keys, a configuration backup, or a
//! ProxmoxVM/ProxmoxContainer manifest (which goes through the `converge` loop, as `apply` does). The order is what keeps a
//! create from failing halfway: every flag is checked offline (`args`, `config_keys`),
//! then against the cluster (VMID free, node and storages exist: `preflight`), and only then is
//! the guest created, or cloned and configured (`clone`).

pub mod args;

use std::collections::BTreeMap;

use pve_client::{CloneOptions, GuestKind, Params, Upid};

use crate::App;
use crate::clone;
use crate::converge::{ApplyOptions, Sources};
use crate::exit::pve_err;
use crate::exit::usage;
use crate::params::{keys_of, shown};
use crate::select::{self, GuestInfo, Selection};
use args::{CommonCreate, Only, VmOnly, Wanted};

/// Run `create`.
pub async fn create(app: &App, a: &CommonCreate, only: Only<'_>) -> anyhow::Result<()> {
    let kind = only.kind();
    let ct = kind == GuestKind::Lxc;
    let vm = match only {
        Only::Vm(v) => Some(v),
        Only::Ct(_) => None,
    };
    let mut raw = BTreeMap::new();
    if let Some(f) = &a.file {
        let docs = crate::manifest::documents(f)?;
        // A kubepve.io document is a manifest (even with a wrong kind, which apply names).
        if docs.iter().any(|d| {
            matches!(d["kind"].as_str(), Some("ProxmoxVM" | "ProxmoxContainer"))
                || d["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("kubepve.io/"))
        }) {
            let options = ApplyOptions {
                sources: Sources {
                    files: vec![f.to_path_buf()],
                    secret_files: vec![],
                    validate: a.validate,
                },
                dry_run: a.dry_run,
                adopt: false,
            };
            return crate::converge::apply(app, &options).await;
        }
        raw = match docs.as_slice() {
            [doc] => match crate::backups::parse(doc)? {
                Some(backup) => from_backup(app, kind, &backup)?,
                None => keys_of(f, &docs)?,
            },
            _ => keys_of(f, &docs)?,
        };
    }
    // Everything the flags say is checked before the first request.
    let vmid_wanted = match (a.vmid, raw.remove("vmid")) {
        (Some(v), _) => Some(v),
        (None, Some(text)) => Some(
            text.parse()
                .map_err(|_| usage(format!("vmid {text:?} is not a number")))?,
        ),
        (None, None) => None,
    };
    if let Some(v) = vmid_wanted {
        crate::config_keys::validate_vmid(v)?;
    }
    let node_wanted = a.node.clone().or_else(|| raw.remove("node"));
    let source_name = vm.and_then(|v| v.template.as_ref().or(v.clone_from.as_ref()));
    let wanted = Wanted::of(a, only, raw)?;
    wanted.validate(ct)?;
    let client = &app.conn.client;
    let guests = select::guests_and_nodes(&app.conn).await?;
    let vmid = match vmid_wanted {
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
    let source: Option<GuestInfo> = match source_name {
        Some(s) => {
            let sel = Selection {
                targets: vec![s.clone()],
                ..Default::default()
            };
            let found = sel.resolve(GuestKind::Qemu, &guests, true)?.remove(0);
            if vm.is_some_and(|v| v.template.is_some()) && !found.template {
                return Err(usage(format!(
                    "{} is not a template; use --clone-from to clone a VM",
                    found.display()
                )));
            }
            Some(found)
        }
        None => None,
    };
    let node = match node_wanted
        .or_else(|| app.conn.node.clone())
        .or_else(|| source.as_ref().map(|s| s.node.clone()))
    {
        Some(n) => n,
        None => only_online_node(app).await?,
    };
    crate::preflight::node(&app.conn, &node).await?;
    let content = if ct { "rootdir" } else { "images" };
    // A full clone's `--storage` is a target too (for other creates it is in `wanted`).
    let mut storages = wanted.storages();
    storages.extend(a.storage.as_deref());
    storages.sort_unstable();
    storages.dedup();
    crate::preflight::storages(app, &node, &storages, content).await?;
    let number = |k: &str| {
        wanted
            .keys
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let cpus = (number("cores").is_some() || number("sockets").is_some())
        .then(|| number("cores").unwrap_or(1) * number("sockets").unwrap_or(1));
    crate::capacity::check(app, &node, number("memory"), cpus, a.ignore_capacity).await?;
    let label = format!("{}/{vmid}", kind.short());
    let name = if ct { "hostname" } else { "name" };
    if let Some((_, n)) = wanted.keys.iter().rev().find(|(k, _)| k == name) {
        crate::journal::name_guest(&label, n);
    }
    let mut record = app.record();
    record.guests.push(label.clone());
    let target = Target {
        kind,
        vmid,
        node: &node,
    };
    let result = match &source {
        Some(src) => run_clone(app, &target, src, a, vm, wanted, &mut record.upids).await,
        None => run_create(app, &target, a, wanted, &mut record.upids).await,
    };
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

/// The node when none was given: the only online one.
async fn only_online_node(app: &App) -> anyhow::Result<String> {
    let nodes = crate::preflight::online_nodes(&app.conn).await?;
    match nodes.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(usage(format!(
            "several nodes ({}): pass --node",
            nodes.join(", ")
        ))),
    }
}

/// The raw keys that re-create the guest of a configuration backup.
fn from_backup(
    app: &App,
    kind: GuestKind,
    backup: &crate::backups::Backup,
) -> anyhow::Result<BTreeMap<String, String>> {
    if !backup.guest.starts_with(&format!("{}/", kind.short())) {
        return Err(usage(format!(
            "the backup is of {}: use `pvectl {} create -f`",
            backup.guest,
            backup.guest.split('/').next().unwrap_or_default()
        )));
    }
    let (keys, dropped) = crate::backups::recreate_keys(backup);
    if !dropped.is_empty() {
        app.progress.note(&format!(
            "note: {} not restored (redacted in the backup): set it again with --set",
            dropped.join(", ")
        ));
    }
    Ok(keys)
}

/// The guest being created.
struct Target<'a> {
    kind: GuestKind,
    vmid: u32,
    node: &'a str,
}

impl Target<'_> {
    fn label(&self) -> String {
        format!("{}/{}", self.kind.short(), self.vmid)
    }
}

async fn wait(app: &App, upid: &Upid, label: &str) -> anyhow::Result<()> {
    crate::progress::wait(&app.conn.client, upid, label, app.wait, &app.progress)
        .await
        .map(|_| ())
}

async fn start(app: &App, t: &Target<'_>, upids: &mut Vec<String>) -> anyhow::Result<()> {
    let upid = app
        .conn
        .client
        .guest(t.kind, t.node, t.vmid)
        .start()
        .await
        .map_err(|e| pve_err("start failed", e))?;
    outln!("{} {} {upid}", t.label(), upid.task_type);
    upids.push(upid.to_string());
    if !app.wait.no_wait {
        wait(app, &upid, &t.label()).await?;
    }
    Ok(())
}

async fn run_clone(
    app: &App,
    t: &Target<'_>,
    src: &GuestInfo,
    a: &CommonCreate,
    vm: Option<&VmOnly>,
    wanted: Wanted,
    upids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let label = t.label();
    let source_config = client
        .guest(t.kind, &src.node, src.vmid)
        .config()
        .await
        .map_err(|e| pve_err(&format!("cannot read the config of {}", src.display()), e))?;
    let keys: Vec<(String, String)> = wanted
        .keys
        .into_iter()
        .filter(|(k, _)| k != "name")
        .collect();
    let plan = clone::plan(
        &clone::text_config(&source_config),
        keys,
        &wanted.disks,
        &wanted.nets,
        "scsi",
    )?;
    if a.dry_run {
        outln!(
            "{label}: would clone {} to {} on {} (dry run)",
            src.display(),
            t.vmid,
            t.node
        );
        clone::show(&label, &plan);
        if a.start {
            outln!("{label}: would start (dry run)");
        }
        return Ok(());
    }
    let opts = CloneOptions {
        name: vm.and_then(|v| v.name.clone()),
        full: vm.is_some_and(|v| v.full).then_some(true),
        storage: a.storage.clone(),
        target: (src.node != t.node).then(|| t.node.to_string()),
        pool: a.pool.clone(),
        description: None,
    };
    let upid = client
        .guest(t.kind, &src.node, src.vmid)
        .clone_to(t.vmid, &opts)
        .await
        .map_err(|e| pve_err("clone failed", e))?;
    outln!("{label} {} {upid}", upid.task_type);
    upids.push(upid.to_string());
    // The clone must exist before it can be configured or started.
    wait(app, &upid, &label).await?;
    for note in &plan.notes {
        app.progress.note(&format!("{label}: {note}"));
    }
    let handle = client.guest(t.kind, t.node, t.vmid);
    clone::configure(app, &handle, &label, &plan, upids).await?;
    if a.start {
        start(app, t, upids).await?;
    }
    outln!("{label} created");
    Ok(())
}

async fn run_create(
    app: &App,
    t: &Target<'_>,
    a: &CommonCreate,
    wanted: Wanted,
    upids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let label = t.label();
    let bus = if t.kind == GuestKind::Lxc {
        "mp"
    } else {
        "scsi"
    };
    let taken: BTreeMap<String, String> = wanted.keys.iter().cloned().collect();
    let plan = clone::plan(&taken, Vec::new(), &wanted.disks, &wanted.nets, bus)?;
    let mut params: Params = wanted.keys.into_iter().chain(plan.set).collect();
    for (k, v) in wanted.create_only {
        params.push(&k, v);
    }
    if a.start {
        params.push("start", 1);
    }
    if a.dry_run {
        outln!(
            "{label}: would POST nodes/{}/{} vmid={} {} (dry run)",
            t.node,
            t.kind.as_str(),
            t.vmid,
            shown(&params)
        );
        return Ok(());
    }
    let upid = match t.kind {
        GuestKind::Qemu => client.create_qemu(t.node, t.vmid, params).await,
        GuestKind::Lxc => {
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
            client.create_lxc(t.node, t.vmid, &ostemplate, rest).await
        }
    }
    .map_err(|e| pve_err("create failed", e))?;
    outln!("{label} {} {upid}", upid.task_type);
    upids.push(upid.to_string());
    if !app.wait.no_wait {
        wait(app, &upid, &label).await?;
        outln!("{label} created");
    }
    Ok(())
}
