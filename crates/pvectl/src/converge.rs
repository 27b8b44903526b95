//! The local observe-plan-execute loop behind `apply`, `diff` and `create -f`: ProxmoxVM/ProxmoxContainer manifests without a cluster, through the
//! operator's planner (`kubepve_plan::plan`) and its step requests (`Step::request`). Like the
//! operator, apply runs one step at a time: observe, plan, execute the first step, wait for its
//! task, and observe again, until the plan is empty (or blocked, or not converging).
//! The objects are turned into desired guests by `prepare`. The manifests converging side by
//! side share their `/cluster/resources` reads (`shared`), and a guest this run created in
//! one step that ended OK is known converged without reading it back.

mod shared;

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use kubepve_plan::{GuestKind, Intent, Listed, Observed, Plan, Power, Step};
use pve_client::types::GuestConfig;
use pve_client::{Client, TaskOutcome, Upid};

use crate::App;
use crate::exit::pve_err;
use crate::exit::{self, usage};
use crate::manifest::{self, Object, SecretMap};
use crate::prepare::prepare;
use crate::select::{self, GuestInfo};
use crate::validate::ValidateMode;
use shared::SharedRead;

/// Manifests `apply` converges at once without `--parallel` (Terraform's default).
const APPLY_PARALLEL: usize = 10;

/// Most steps one object may take in one apply (a clone, config, resize, start: about five).
const MAX_STEPS: usize = 20;

/// Where the manifests come from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Files or folders of manifests (`-` for stdin).
    pub files: Vec<PathBuf>,
    /// Files with Secret documents.
    pub secret_files: Vec<PathBuf>,
    /// What to do with unknown fields.
    pub validate: ValidateMode,
}

impl Sources {
    fn load(&self) -> anyhow::Result<manifest::Manifests> {
        manifest::load(&self.files, &self.secret_files, self.validate)
    }
}

/// What `apply` (and `create -f` with a manifest) is asked to do.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The manifests.
    pub sources: Sources,
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// Take over a guest at the manifest's VMID that lacks the owner tag.
    pub adopt: bool,
}

/// Observe a guest as the operator does: existence, node and status from a
/// `/cluster/resources` read the caller made (`guests`), then config (pending values applied),
/// pending keys and, when unknown, the live status.
pub async fn observe_in(
    client: &Client,
    kind: GuestKind,
    vmid: i64,
    guests: &[GuestInfo],
) -> anyhow::Result<Observed> {
    let Some(entry) = guests.iter().find(|g| i64::from(g.vmid) == vmid) else {
        return Ok(Observed::absent());
    };
    let guest = client.guest(kind, &entry.node, entry.vmid);
    let config = match guest.config().await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return Ok(Observed::absent()),
        Err(e) => return Err(pve_err(&format!("cannot read the config of {vmid}"), e)),
    };
    let items = guest
        .pending()
        .await
        .map_err(|e| pve_err("cannot read pending changes", e))?;
    let power = if entry.status == "unknown" || entry.status.is_empty() {
        let s = guest
            .status()
            .await
            .map_err(|e| pve_err("cannot read the status", e))?;
        Power::from_status(&s.status, s.qmpstatus.as_deref())
    } else {
        Power::from_status(&entry.status, None)
    };
    let listed = Listed {
        node: &entry.node,
        lock: entry.lock.as_deref(),
        template: entry.template,
        pool: entry.pool.as_deref(),
    };
    Ok(Observed::from_reads(listed, config, &items, power))
}

/// Execute one step with the request the planner defines for it; the task, if one started.
pub async fn execute(
    client: &Client,
    kind: GuestKind,
    node: &str,
    vmid: i64,
    step: &Step,
) -> anyhow::Result<Option<Upid>> {
    kubepve_plan::execute(client, kind, node, vmid, step)
        .await
        .map_err(|e| pve_err(&format!("{} failed", step.name()), e))
}

fn print_plan(label: &str, target: &str, p: &Plan) {
    outln!("{label} ({target}):");
    for line in p.to_string().lines() {
        outln!("  {line}");
    }
}

/// `apply`: converge every manifest, side by side, each one step at a time.
pub async fn apply(app: &App, args: &ApplyOptions) -> anyhow::Result<()> {
    let m = args.sources.load()?;
    for s in &m.skipped {
        eprintln!("skipped {s}: pvectl applies ProxmoxVM and ProxmoxContainer only");
    }
    if m.objects.is_empty() {
        return Err(usage("no ProxmoxVM or ProxmoxContainer in the given files"));
    }
    let mut record = app.record();
    let (mut ok, mut failed, mut refused) = (0, 0, 0);
    // Manifests converge side by side; each keeps its own part of the journal record, merged
    // in manifest order, and its result is said in that order (`buffered`), so `--parallel 1`
    // is the one-at-a-time apply.
    let secrets = &m.secrets;
    // Any resource read made from now on shows what the manifests start from.
    let started = Instant::now();
    let reads = &SharedRead::new(&app.conn);
    let runs = futures::stream::iter(m.objects.iter().map(|obj| async move {
        let mut part = app.record();
        part.guests.push(format!(
            "{}/{}/{}",
            obj.kind.resource(),
            obj.namespace,
            obj.name
        ));
        let from = Start { reads, at: started };
        let result = apply_one(app, obj, secrets, args, from, &mut part).await;
        (obj, part, result)
    }))
    .buffered(parallel(app));
    futures::pin_mut!(runs);
    while let Some((obj, part, result)) = runs.next().await {
        record.guests.extend(part.guests);
        record.upids.extend(part.upids);
        record.changes.extend(part.changes);
        match result {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                if exit::code_of(&e) == exit::USAGE {
                    refused += 1;
                }
                eprintln!("error: {}: {e:#}", obj.label());
            }
        }
    }
    if !args.dry_run {
        record.outcome = exit::bulk_outcome(ok, failed).into();
        crate::journal::append(&record);
    }
    // Bad input in every manifest that failed, and nothing applied: a usage error.
    exit::bulk_finish(ok, failed, refused)
}

/// Manifests converged at once: `--parallel` (default [`APPLY_PARALLEL`]), and never more
/// than the client lets requests be in flight: each manifest has one request out at a time,
/// so more manifests would only queue inside the client.
fn parallel(app: &App) -> usize {
    app.parallel
        .unwrap_or(APPLY_PARALLEL)
        .min(app.conn.client.max_in_flight())
        .max(1)
}

/// Where a manifest's convergence starts: the reads it shares and when the apply began.
#[derive(Clone, Copy)]
struct Start<'r, 'c> {
    reads: &'r SharedRead<'c>,
    at: Instant,
}

async fn apply_one(
    app: &App,
    obj: &Object,
    secrets: &SecretMap,
    args: &ApplyOptions,
    from: Start<'_, '_>,
    record: &mut crate::journal::Record,
) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let guests = from.reads.after(from.at).await?;
    let prep = prepare(&app.conn, obj, secrets, &guests).await?;
    let kind_label = if prep.kind == GuestKind::Qemu {
        "vm"
    } else {
        "ct"
    };
    let target = format!("{kind_label}/{}", prep.vmid);
    // The journal links the object to the guest, so `history --guest 401` finds the operation.
    record.guests.push(target.clone());
    for w in prep.desired.warnings() {
        eprintln!("warning: {}: {w}", obj.label());
    }
    let mut acted = 0usize;
    let mut created = false;
    let mut last: Option<(Step, usize)> = None;
    // The plan lists every remaining change on each round; each is said once.
    let mut told = std::collections::BTreeSet::new();
    // The first observation uses the read made for `prepare`; after a step, a read that
    // began after it ended (shared with the manifests that are as far).
    let mut fresh = Some(guests);
    let mut since = from.at;
    // The config of a guest that existed before, for the journal (`history`, `rollback`).
    let mut before: Option<GuestConfig> = None;
    for round in 0..MAX_STEPS {
        let guests = match fresh.take() {
            Some(guests) => guests,
            None => from.reads.after(since).await?,
        };
        let observed = observe_in(client, prep.kind, prep.vmid, &guests).await?;
        let config = || {
            GuestConfig(
                observed
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            )
        };
        if round == 0 && observed.exists {
            before = Some(config());
        }
        let name = ["name", "hostname"]
            .iter()
            .find_map(|k| observed.config.get(*k));
        if let Some(n) = name {
            crate::journal::name_guest(&target, n);
        }
        let intent = Intent {
            adopt: args.adopt || prep.adopt,
            ..Intent::default()
        };
        let p = kubepve_plan::plan(&prep.desired, &observed, &intent);
        if args.dry_run {
            print_plan(&obj.label(), &target, &p);
            if p.is_converged() {
                outln!("{} unchanged (dry run)", obj.label());
            }
            return Ok(());
        }
        if let Some(b) = &p.blocker {
            anyhow::bail!("{}", b.reason());
        }
        let Some(step) = p.next_step().cloned() else {
            let verb = match (created, acted) {
                (true, _) => "created",
                (false, 0) => "unchanged",
                _ => "configured",
            };
            if let (Some(b), true) = (&before, acted > 0) {
                record.changed(&target, b, &config());
            }
            outln!("{} ({target}) {verb}", obj.label());
            if !p.restart_required.is_empty() {
                eprintln!(
                    "note: {}: {} wait for a restart (`pvectl {kind_label} restart {}`)",
                    obj.label(),
                    p.restart_required.join(", "),
                    prep.vmid
                );
            }
            return Ok(());
        };
        if let Step::WaitForLock { lock } = &step {
            app.progress
                .note(&format!("{}: waiting for lock {lock}", obj.label()));
            tokio::time::sleep(app.wait.poll.max(std::time::Duration::from_millis(200))).await;
            since = Instant::now();
            continue;
        }
        let repeats = match &last {
            Some((s, n)) if *s == step => n + 1,
            _ => 1,
        };
        if repeats > 2 {
            anyhow::bail!(
                "step {step} does not take effect (tried {} times); see `pvectl diff`",
                repeats - 1
            );
        }
        last = Some((step.clone(), repeats));
        if matches!(step, Step::Create { .. } | Step::Clone { .. }) {
            created = true;
        }
        for c in &p.changes {
            if told.insert(c.to_string()) {
                app.progress.note(&format!("{}: {c}", obj.label()));
            }
        }
        let node = if observed.exists {
            observed.node.clone()
        } else {
            prep.desired.node().to_string()
        };
        if let Step::SetConfig { delete, .. } = &step
            && delete.iter().any(|k| observed.loses_on_removal(k))
            && let Some(g) = select::all_guests(client)
                .await?
                .into_iter()
                .find(|g| i64::from(g.vmid) == prep.vmid)
        {
            let config = client
                .guest(g.kind, &g.node, g.vmid)
                .config()
                .await
                .map_err(|e| pve_err("cannot read the config to save it", e))?;
            let saved = crate::backups::save(app, &g, &config, &[], "apply").await?;
            outln!(
                "{} ({target}): configuration saved to {} before removing {}",
                obj.label(),
                saved.display(),
                delete.join(", ")
            );
        }
        let upid = execute(client, prep.kind, &node, prep.vmid, &step).await?;
        acted += 1;
        match upid {
            Some(upid) => {
                outln!("{} {} {upid}", obj.label(), step.name());
                record.upids.push(upid.to_string());
                if app.wait.no_wait {
                    outln!(
                        "{} ({target}): started {}; run apply again to continue",
                        obj.label(),
                        step.name()
                    );
                    return Ok(());
                }
                let outcome =
                    crate::progress::wait(client, &upid, &obj.label(), app.wait, &app.progress)
                        .await?;
                if let Step::Create { params } = &step
                    && p.steps.len() == 1
                    && outcome == TaskOutcome::Ok
                {
                    // Converged without reading the guest back: the create carried the whole
                    // desired config (every setting, disk, network and both ownership tags
                    // that `plan_creation` puts in it, with start=1 when it should run), it
                    // was the plan's only step, and its task ended OK, so Proxmox made the
                    // guest as asked and a fresh observation would plan nothing. (A create
                    // with warnings, or a clone, which is configured and started by later
                    // steps, is observed again.)
                    if let Some(n) = params.get("name").or_else(|| params.get("hostname")) {
                        crate::journal::name_guest(&target, n);
                    }
                    outln!("{} ({target}) created", obj.label());
                    return Ok(());
                }
            }
            None => outln!("{} {}: done", obj.label(), step.name()),
        }
        since = Instant::now();
    }
    anyhow::bail!("not converged after {MAX_STEPS} steps; see `pvectl diff`")
}

/// `diff`: print each manifest's plan; exit code 0 without differences, 1 with.
pub async fn diff(app: &App, args: &Sources) -> anyhow::Result<i32> {
    let m = args.load()?;
    if m.objects.is_empty() {
        return Err(usage("no ProxmoxVM or ProxmoxContainer in the given files"));
    }
    let client = &app.conn.client;
    let mut differs = false;
    // Nothing changes between the manifests: one read serves them all.
    let guests = select::guests_and_nodes(&app.conn).await?;
    for obj in &m.objects {
        let prep = prepare(&app.conn, obj, &m.secrets, &guests).await?;
        let observed = observe_in(client, prep.kind, prep.vmid, &guests).await?;
        let intent = Intent {
            adopt: prep.adopt,
            ..Intent::default()
        };
        let p = kubepve_plan::plan(&prep.desired, &observed, &intent);
        let kind_label = if prep.kind == GuestKind::Qemu {
            "vm"
        } else {
            "ct"
        };
        let target = format!("{kind_label}/{}", prep.vmid);
        if p.is_converged() {
            outln!("{} ({target}): no changes", obj.label());
        } else {
            differs = true;
            print_plan(&obj.label(), &target, &p);
        }
    }
    Ok(if differs { exit::FAILED } else { exit::OK })
}
