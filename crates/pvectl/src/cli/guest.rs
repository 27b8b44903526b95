//! The `vm` and `ct` verb trees and their dispatch: each has its own `create` (flags in
//! `commands::create::args`) and shares the rest; every verb's work is in its command file.

use clap::Subcommand;
use pve_client::GuestKind;

use crate::App;
use crate::commands::create::args::{CtCreateArgs, Only, VmCreateArgs};
use crate::commands::{create, describe, guest, migrate, snapshot};
use crate::reconfigure::{self, UpdateArgs};

/// `pvectl vm ...`.
#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Create a VM from flags, by cloning, or from a file (VMID allocated when omitted).
    ///
    /// Examples:
    ///   pvectl vm create --name web-02 --cores 2 --memory 4G --disk local-lvm:32 \
    ///       --net bridge=vmbr0 --ostype l26 --tags env=prod --start
    ///   pvectl vm create --name web-03 --template debian-12-cloudinit --memory 4096
    ///   pvectl vm create --template debian-12 --disk local-lvm:20   # adds scsi1
    ///   pvectl vm create --template debian-12 --disk scsi0=local-lvm:32   # grows scsi0
    ///   pvectl vm create -f vm.yaml
    #[command(verbatim_doc_comment)]
    Create(Box<VmCreateArgs>),
    #[command(flatten)]
    Guest(GuestCommand),
}

/// `pvectl ct ...`.
#[derive(Debug, Subcommand)]
pub enum CtCommand {
    /// Create a container from flags or a file (VMID allocated when omitted).
    ///
    /// Examples:
    ///   pvectl ct create --hostname cache \
    ///       --ostemplate local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst \
    ///       --rootfs local-lvm:8 --net name=eth0,bridge=vmbr0,ip=dhcp
    ///   pvectl ct create --hostname data --ostemplate local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst \
    ///       --disk local-lvm:16,mp=/srv --memory 1G --unprivileged
    ///   pvectl ct create -f ct.yaml
    #[command(verbatim_doc_comment)]
    Create(Box<CtCreateArgs>),
    #[command(flatten)]
    Guest(GuestCommand),
}

/// Guest commands, shared by `pvectl vm` and `pvectl ct`.
#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// List guests, with filters.
    ///
    /// Examples:
    ///   pvectl vm list
    ///   pvectl vm list -l env=prod --status running -o wide --sort-by memory
    ///   pvectl ct list --node pve2 -o name
    #[command(visible_alias = "ls", verbatim_doc_comment)]
    List(guest::ListArgs),
    /// Show some guests; with -o json/yaml, their config too (one target: one object).
    ///
    /// Examples:
    ///   pvectl vm get 150 -o yaml
    ///   pvectl vm get 150,151 web-03
    #[command(verbatim_doc_comment)]
    Get(guest::ListArgs),
    /// Show a guest in detail: status, config, pending changes, recent tasks.
    ///
    /// Example: pvectl vm describe web-01
    #[command(verbatim_doc_comment)]
    Describe(describe::DescribeArgs),
    /// Start guests.
    ///
    /// Examples:
    ///   pvectl vm start 150
    ///   pvectl vm start -l env=dev --no-wait
    #[command(verbatim_doc_comment)]
    Start(guest::PowerArgs),
    /// Stop guests hard (power off; asks first).
    ///
    /// Examples:
    ///   pvectl vm stop 150 --yes
    ///   pvectl vm stop 150 --force   # abort a running shutdown first
    #[command(verbatim_doc_comment)]
    Stop(guest::StopArgs),
    /// Shut guests down gracefully (ACPI or guest agent).
    ///
    /// Example: pvectl vm shutdown 150,151 --timeout 120 --force-after-timeout
    #[command(verbatim_doc_comment)]
    Shutdown(guest::ShutdownArgs),
    /// Reboot running guests (stopped guests are started).
    ///
    /// Example: pvectl ct restart 200
    #[command(visible_alias = "reboot", verbatim_doc_comment)]
    Restart(guest::PowerArgs),
    /// Change a guest's config from flags or a file; --dry-run shows the diff.
    ///
    /// Examples:
    ///   pvectl vm update 150 --memory 8G --cores 4 --dry-run
    ///   pvectl vm update 150 --set onboot=1 --delete balloon
    ///   pvectl vm update -l env=dev --add-tag team.web
    #[command(verbatim_doc_comment)]
    Update(Box<UpdateArgs>),
    /// Delete guests (checks first, saves each config, asks; a running guest needs --force).
    ///
    /// Before anything is deleted: protected guests, templates with linked clones, and (without
    /// --purge) HA-managed guests and guests with replication jobs are refused; snapshots,
    /// disks, HA, replication and backup jobs are listed; the configuration is saved (see
    /// `pvectl backup list`).
    ///
    /// Examples:
    ///   pvectl vm delete 150
    ///   pvectl vm delete 150,151 --force --purge-disks --yes
    ///   pvectl vm delete 150 --keep-snapshots   # refuse if it has snapshots
    #[command(visible_alias = "rm", verbatim_doc_comment)]
    Delete(guest::DeleteArgs),
    /// Snapshots: create, list, rollback, delete.
    ///
    /// Examples:
    ///   pvectl vm snapshot create 150 before-upgrade
    ///   pvectl vm snapshot list 150
    ///   pvectl vm snapshot rollback 150 before-upgrade --start
    #[command(subcommand, visible_alias = "snapshots")]
    Snapshot(snapshot::SnapshotCommand),
    /// Move a guest to another node, after Proxmox's pre-flight check.
    ///
    /// Examples:
    ///   pvectl vm migrate 150 --node pve2 --online --with-local-disks
    ///   pvectl ct migrate 200 --node pve2 --restart --dry-run
    #[command(verbatim_doc_comment)]
    Migrate(migrate::MigrateArgs),
}

/// Run a `vm` subcommand.
pub async fn run_vm(app: &App, cmd: VmCommand) -> anyhow::Result<()> {
    match cmd {
        VmCommand::Create(a) => create::create(app, &a.common, Only::Vm(&a.vm)).await,
        VmCommand::Guest(cmd) => run(app, GuestKind::Qemu, cmd).await,
    }
}

/// Run a `ct` subcommand.
pub async fn run_ct(app: &App, cmd: CtCommand) -> anyhow::Result<()> {
    match cmd {
        CtCommand::Create(a) => create::create(app, &a.common, Only::Ct(&a.ct)).await,
        CtCommand::Guest(cmd) => run(app, GuestKind::Lxc, cmd).await,
    }
}

/// Run a `vm` or `ct` subcommand other than `create`.
async fn run(app: &App, kind: GuestKind, cmd: GuestCommand) -> anyhow::Result<()> {
    match cmd {
        GuestCommand::List(args) => guest::list(app, kind, &args, false).await,
        GuestCommand::Get(args) => guest::list(app, kind, &args, true).await,
        GuestCommand::Describe(args) => describe::describe(app, kind, &args).await,
        GuestCommand::Update(args) => reconfigure::update(app, kind, &args).await,
        GuestCommand::Start(a) => guest::start(app, kind, &a).await,
        GuestCommand::Restart(a) => guest::restart(app, kind, &a).await,
        GuestCommand::Stop(a) => guest::stop(app, kind, &a).await,
        GuestCommand::Shutdown(a) => guest::shutdown(app, kind, &a).await,
        GuestCommand::Snapshot(cmd) => snapshot::run(app, kind, cmd).await,
        GuestCommand::Migrate(args) => migrate::run(app, kind, &args).await,
        GuestCommand::Delete(a) => guest::delete(app, kind, &a).await,
    }
}
