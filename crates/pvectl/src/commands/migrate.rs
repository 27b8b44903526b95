//! `pvectl vm|ct migrate ID --node TARGET`: moves one guest to another node with the step the
//! operator sends for a changed `spec.node` ([`Step::Migrate`] through the shared executor).
//! Before anything is sent it runs Proxmox's pre-flight check (`GET .../migrate` and the
//! cluster's nodes) and prints what blocks the move: an unknown node is a usage error (exit 2),
//! anything else Proxmox would refuse (offline target, storages missing there, local disks of a
//! running VM without `--with-local-disks`, local devices, a running guest without `--online`
//! or `--restart`) is refused (exit 1, journal outcome `refused`). `--dry-run` shows the request;
//! otherwise the task is printed, followed with progress (unless `--no-wait`) and journaled.

use clap::Args;
use kubepve_plan::{GuestKind, Step};

use crate::App;
use crate::exit::{self, usage};
use crate::select::{GuestInfo, Selection};

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The guest: a VMID or a name.
    #[arg(value_name = "ID|NAME")]
    pub guest: String,
    /// The node to move the guest to.
    #[arg(long, value_name = "TARGET")]
    pub node: String,
    /// VMs: live-migrate a running VM (Proxmox `online=1`); a running VM is refused without it.
    #[arg(long)]
    pub online: bool,
    /// VMs: also move the disks on node-local storage of a running VM (`with-local-disks=1`).
    #[arg(long, requires = "online")]
    pub with_local_disks: bool,
    /// Containers: shut a running container down, move it and start it again (`restart=1`);
    /// LXC has no live migration, so a running container is refused without it.
    #[arg(long)]
    pub restart: bool,
    /// Print the checks and the request, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `pvectl vm|ct migrate`.
pub async fn run(app: &App, guest_kind: GuestKind, args: &MigrateArgs) -> anyhow::Result<()> {
    match guest_kind {
        GuestKind::Lxc if args.online => {
            return Err(usage(
                "containers cannot be live-migrated (LXC has no live migration): use --restart \
                 to move a running container",
            ));
        }
        GuestKind::Lxc if args.with_local_disks => {
            return Err(usage("--with-local-disks is for VMs only"));
        }
        GuestKind::Qemu if args.restart => {
            return Err(usage(
                "--restart is for containers; a running VM is moved with --online",
            ));
        }
        _ => {}
    }
    let g = one_guest(app, guest_kind, &args.guest).await?;
    let label = g.label();
    if g.node == args.node {
        outln!("{label} is already on {}: nothing to do", args.node);
        return Ok(());
    }
    crate::preflight::node_exists(&app.conn, &args.node).await?;
    let step = Step::Migrate {
        target: args.node.clone(),
        online: args.online,
        with_local_disks: args.with_local_disks,
        restart: args.restart,
    };
    let vmid = i64::from(g.vmid);
    let client = &app.conn.client;
    let check = kubepve_plan::migration_check(client, guest_kind, &g.node, vmid, &args.node)
        .await
        .map_err(|e| anyhow::anyhow!("pre-flight check of {label}: {}", exit::describe(&e)))?;
    let mut blockers = check.blockers(vmid, &step);
    if check.running && !args.online && !args.restart {
        blockers.insert(
            0,
            match guest_kind {
                GuestKind::Qemu => "the VM is running: pass --online for a live migration, or \
                                    stop it first"
                    .to_string(),
                GuestKind::Lxc => "the container is running: pass --restart to shut it down, \
                                   move it and start it again, or stop it first"
                    .to_string(),
            },
        );
    }
    let state = if check.running { "running" } else { "stopped" };
    eprintln!(
        "pre-flight: {label} on {} ({state}) to {}",
        g.node, args.node
    );
    if !check.local_disks.is_empty() {
        eprintln!("  local disks: {}", check.local_disks.join(", "));
    }
    if !blockers.is_empty() {
        for b in &blockers {
            eprintln!("  blocked: {b}");
        }
        let err = anyhow::anyhow!(
            "cannot migrate {label} to {}: {}",
            args.node,
            blockers.join("; ")
        );
        crate::safety::not_done(app, std::slice::from_ref(&label), &err);
        return Err(err);
    }
    let request = step
        .request(guest_kind, &g.node, vmid)
        .ok_or_else(|| anyhow::anyhow!("no request for {step}"))?;
    if args.dry_run {
        outln!(
            "{label}: would {step}: POST {} {} (dry run)",
            request.path,
            request.params
        );
        return Ok(());
    }
    let journal = crate::journal::Started::start(app.record(), vec![label.clone()]);
    let mut record = app.record();
    record.guests.push(label.clone());
    let result = send(app, guest_kind, &g, vmid, &step, &journal, &mut record).await;
    record.outcome = if result.is_ok() { "ok" } else { "failed" }.into();
    record.error = result.as_ref().err().map(|e| format!("{e:#}"));
    journal.finish(record);
    result
}

/// Sends the migration, prints the task and waits for it unless `--no-wait`.
async fn send(
    app: &App,
    kind: GuestKind,
    g: &GuestInfo,
    vmid: i64,
    step: &Step,
    journal: &crate::journal::Started,
    record: &mut crate::journal::Record,
) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let label = g.label();
    let upid = kubepve_plan::execute(client, kind, &g.node, vmid, step)
        .await
        .map_err(|e| anyhow::anyhow!("{label}: {}", exit::describe(&e)))?
        .ok_or_else(|| anyhow::anyhow!("{label}: Proxmox started no migration task"))?;
    app.progress
        .out(&format!("{label} {} {upid}", upid.task_type));
    journal.task(&label, &upid.to_string());
    record.upids.push(upid.to_string());
    if !app.wait.no_wait {
        crate::progress::wait(client, &upid, &label, app.wait, &app.progress).await?;
    }
    Ok(())
}

/// The one guest `id` names.
async fn one_guest(app: &App, kind: GuestKind, id: &str) -> anyhow::Result<GuestInfo> {
    let selection = Selection {
        targets: vec![id.to_string()],
        ..Selection::default()
    };
    let mut guests = crate::select::resolve(&app.conn, kind, &selection).await?;
    match guests.len() {
        1 => Ok(guests.remove(0)),
        0 => Err(anyhow::anyhow!("no {} {id}", kind.noun())),
        n => Err(usage(format!(
            "{id} names {n} guests; give the VMID of the one to migrate"
        ))),
    }
}
