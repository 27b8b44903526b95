//! The bulk runner: one action on many guests with bounded concurrency (`--parallel`), a line
//! per guest on stdout (`vm/150 stop UPID:...`), progress while waiting, a summary, the journal
//! record, and the exit code (0 all worked, 1 all failed, 3 some failed).

use futures::StreamExt;
use pve_client::{GuestKind, Method, Params, Upid};

use crate::App;
use crate::exit;
use crate::progress;
use crate::select::GuestInfo;

/// Guests a bulk command works on at once without `--parallel`.
const BULK_PARALLEL: usize = 4;

/// What to do to each guest.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start (already running: nothing to do).
    Start,
    /// Hard stop; `overrule` aborts a running shutdown first.
    Stop {
        /// Proxmox `overrule-shutdown`.
        overrule: bool,
    },
    /// Graceful shutdown.
    Shutdown {
        /// Seconds to wait.
        timeout: Option<u32>,
        /// Stop hard after the timeout.
        force: bool,
    },
    /// Reboot a running guest, start a stopped one.
    Restart,
    /// Take snapshot `name`.
    SnapshotCreate {
        /// Snapshot name.
        name: String,
        /// Description.
        description: Option<String>,
        /// Save RAM state (VMs).
        vmstate: bool,
    },
    /// Delete snapshot `name`.
    SnapshotDelete {
        /// Snapshot name.
        name: String,
    },
    /// Roll back to snapshot `name`.
    SnapshotRollback {
        /// Snapshot name.
        name: String,
        /// Start the guest afterwards.
        start: bool,
    },
    /// Destroy (stopping first with `force`).
    Delete {
        /// Stop a running guest first.
        force: bool,
        /// Proxmox `purge`.
        purge: bool,
        /// Proxmox `destroy-unreferenced-disks`.
        purge_disks: bool,
    },
}

impl Action {
    /// The verb for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop { .. } => "stop",
            Action::Shutdown { .. } => "shutdown",
            Action::Restart => "restart",
            Action::Delete { .. } => "delete",
            Action::SnapshotCreate { .. } => "snapshot",
            Action::SnapshotDelete { .. } => "delete snapshot",
            Action::SnapshotRollback { .. } => "rollback",
        }
    }
}

/// One request: method, path under the guest, operation name, parameters.
struct Call {
    op: &'static str,
    method: Method,
    path: String,
    params: Params,
}

fn call(g: &GuestInfo, op: &'static str, method: Method, tail: &str, params: Params) -> Call {
    let base = format!("nodes/{}/{}/{}", g.node, g.kind.as_str(), g.vmid);
    Call {
        op,
        method,
        path: if tail.is_empty() {
            base
        } else {
            format!("{base}/{tail}")
        },
        params,
    }
}

/// The requests an action sends to a guest in its current state (empty: nothing to do).
/// Whether `action` would change `g` (a stop of a stopped guest would not).
pub fn changes(g: &GuestInfo, action: &Action) -> bool {
    plan(g, action).map_or(true, |calls| !calls.is_empty())
}

fn plan(g: &GuestInfo, action: &Action) -> Result<Vec<Call>, String> {
    let running = g.status == "running";
    Ok(match action {
        Action::Start if running => vec![],
        Action::Start => vec![call(
            g,
            "guest_start",
            Method::POST,
            "status/start",
            Params::new(),
        )],
        Action::Stop { .. } if !running => vec![],
        Action::Stop { overrule } => vec![call(
            g,
            "guest_stop",
            Method::POST,
            "status/stop",
            Params::new().opt_flag("overrule-shutdown", overrule.then_some(true)),
        )],
        Action::Shutdown { .. } if !running => vec![],
        Action::Shutdown { timeout, force } => vec![call(
            g,
            "guest_shutdown",
            Method::POST,
            "status/shutdown",
            Params::new()
                .opt("timeout", *timeout)
                .opt_flag("forceStop", force.then_some(true)),
        )],
        Action::Restart if running => {
            vec![call(
                g,
                "guest_reboot",
                Method::POST,
                "status/reboot",
                Params::new(),
            )]
        }
        Action::Restart => vec![call(
            g,
            "guest_start",
            Method::POST,
            "status/start",
            Params::new(),
        )],
        Action::SnapshotCreate {
            name,
            description,
            vmstate,
        } => {
            if *vmstate && g.kind == GuestKind::Lxc {
                return Err(format!(
                    "{}: containers have no RAM state: drop --vmstate",
                    g.label()
                ));
            }
            vec![call(
                g,
                "guest_snapshot_create",
                Method::POST,
                "snapshot",
                Params::new()
                    .set("snapname", name)
                    .opt("description", description.as_deref())
                    .opt_flag("vmstate", vmstate.then_some(true)),
            )]
        }
        Action::SnapshotDelete { name } => vec![call(
            g,
            "guest_snapshot_delete",
            Method::DELETE,
            &format!("snapshot/{name}"),
            Params::new(),
        )],
        Action::SnapshotRollback { name, start } => vec![call(
            g,
            "guest_snapshot_rollback",
            Method::POST,
            &format!("snapshot/{name}/rollback"),
            Params::new().opt_flag("start", start.then_some(true)),
        )],
        Action::Delete {
            force,
            purge,
            purge_disks,
        } => {
            if running && !force {
                return Err(format!(
                    "{} is running: pass --force to stop it first",
                    g.label()
                ));
            }
            let mut calls = Vec::new();
            if running {
                calls.push(call(
                    g,
                    "guest_stop",
                    Method::POST,
                    "status/stop",
                    Params::new(),
                ));
            }
            calls.push(call(
                g,
                "guest_delete",
                Method::DELETE,
                "",
                Params::new()
                    .opt_flag("purge", purge.then_some(true))
                    .opt_flag("destroy-unreferenced-disks", purge_disks.then_some(true)),
            ));
            calls
        }
    })
}

/// Show the guests `action` would change and ask before doing `what` to them; the others are
/// named in a note and skipped (they are left alone: nothing to do). No question when nothing
/// would change.
pub fn confirm_list(
    app: &App,
    what: &str,
    action: &Action,
    guests: &[GuestInfo],
) -> anyhow::Result<()> {
    if app.yes {
        return Ok(());
    }
    let (change, skip): (Vec<&GuestInfo>, Vec<&GuestInfo>) =
        guests.iter().partition(|g| changes(g, action));
    if !skip.is_empty() {
        let names: Vec<String> = skip
            .iter()
            .map(|g| format!("{} ({})", g.label(), g.status))
            .collect();
        eprintln!(
            "note: skipping {} of {} guest(s) with nothing to {}: {}",
            skip.len(),
            guests.len(),
            action.verb(),
            names.join(", ")
        );
    }
    if change.is_empty() {
        return Ok(());
    }
    eprintln!("About to {what}:");
    for g in &change {
        eprintln!("  {}  node {}  {}", g.display(), g.node, g.status);
    }
    let labels: Vec<String> = change.iter().map(|g| g.label()).collect();
    crate::safety::confirm_journaled(
        app,
        &format!("Continue with {} guest(s)?", change.len()),
        &labels,
    )
}

/// Run `action` on every guest; report, journal, and return the bulk exit status.
pub async fn run(
    app: &App,
    guests: Vec<GuestInfo>,
    action: &Action,
    dry_run: bool,
) -> anyhow::Result<()> {
    for g in &guests {
        crate::safety::owner_warning(app, g);
    }
    if dry_run {
        for g in &guests {
            match plan(g, action) {
                Ok(calls) if calls.is_empty() => {
                    outln!("{}: nothing to do ({}) (dry run)", g.display(), g.status);
                }
                Ok(calls) => {
                    for c in calls {
                        let keys: Vec<String> = c
                            .params
                            .pairs()
                            .iter()
                            .map(|(k, v)| format!("{k}={}", pve_client::shown(k, v)))
                            .collect();
                        outln!(
                            "{}: would {} {} {} (dry run)",
                            g.display(),
                            c.method,
                            c.path,
                            keys.join(" ")
                        )
                    }
                }
                Err(e) => outln!("{}: would fail: {e} (dry run)", g.display()),
            }
        }
        return Ok(());
    }
    let progress =
        crate::journal::Started::start(app.record(), guests.iter().map(|g| g.label()).collect());
    let progress = &progress;
    let mut results: Vec<(GuestInfo, Result<Done, String>)> = futures::stream::iter(guests)
        .map(|g| async move {
            let r = perform(app, &g, action, progress).await;
            (g, r)
        })
        .buffer_unordered(app.parallel.unwrap_or(BULK_PARALLEL))
        .collect()
        .await;
    results.sort_by_key(|(g, _)| g.vmid);
    let mut record = app.record();
    let (mut ok, mut failed) = (0, 0);
    let (mut errors, mut skipped) = (Vec::new(), Vec::new());
    for (g, r) in &results {
        match r {
            Ok(Done::Tasks(upids)) => {
                ok += 1;
                record.guests.push(g.label());
                record.upids.extend(upids.iter().cloned());
            }
            Ok(Done::Skipped(why)) => skipped.push(format!("{} ({why})", g.label())),
            Err(e) => {
                failed += 1;
                record.guests.push(g.label());
                eprintln!("error: {}: {e}", g.display());
                errors.push(format!("{}: {e}", g.label()));
            }
        }
    }
    let noun = results.first().map_or("VM", |(g, _)| g.kind.noun());
    if results.len() > 1 {
        let skips = if skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped (nothing to do)", skipped.len())
        };
        eprintln!(
            "{}: {ok} of {} {noun}s succeeded, {failed} failed{skips}",
            action.verb(),
            results.len()
        );
    }
    record.outcome = if ok + failed == 0 {
        "skipped"
    } else {
        exit::bulk_outcome(ok, failed)
    }
    .into();
    if !skipped.is_empty() {
        errors.push(format!("skipped: {}", skipped.join(", ")));
    }
    if !errors.is_empty() {
        record.error = Some(errors.join("; "));
    }
    progress.finish(record);
    exit::bulk_result(ok, failed)
}

/// What doing an action to one guest came to.
enum Done {
    /// The tasks it started.
    Tasks(Vec<String>),
    /// Nothing to do (`already stopped`).
    Skipped(&'static str),
}

/// Do `action` to one guest: send its requests in order, print each UPID, wait unless
/// `--no-wait` (a stop before a delete is always waited for). Each task goes into the journal as
/// soon as it is started.
async fn perform(
    app: &App,
    g: &GuestInfo,
    action: &Action,
    progress: &crate::journal::Started,
) -> Result<Done, String> {
    let calls = plan(g, action)?;
    if calls.is_empty() {
        let state = if g.status == "running" {
            "already running"
        } else {
            "already stopped"
        };
        app.progress
            .out(&format!("{}: {state}, nothing to do: skipped", g.label()));
        return Ok(Done::Skipped(state));
    }
    let count = calls.len();
    let mut upids = Vec::new();
    for (i, c) in calls.into_iter().enumerate() {
        let answer: serde_json::Value = app
            .conn
            .client
            .request(c.op, c.method, &c.path, c.params)
            .await
            .map_err(|e| exit::describe(&e))?;
        let Some(text) = answer.as_str() else {
            app.progress
                .out(&format!("{} {}: done", g.label(), action.verb()));
            continue;
        };
        let upid: Upid = text.parse().map_err(|e: pve_client::Error| e.to_string())?;
        app.progress
            .out(&format!("{} {} {upid}", g.label(), upid.task_type));
        progress.task(&g.label(), &upid.to_string());
        upids.push(upid.to_string());
        let last = i + 1 == count;
        if !app.wait.no_wait || !last {
            progress::wait(&app.conn.client, &upid, &g.label(), app.wait, &app.progress)
                .await
                .map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(Done::Tasks(upids))
}
