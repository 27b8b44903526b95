//! `pvectl task`: list tasks across nodes (with filters), follow one to its end (`watch`), print
//! its log (`logs`, `-f` to follow), show its status, and stop it.

use clap::{Args, Subcommand};
use futures::StreamExt;
use pve_client::{Params, TaskListItem, TaskOutcome, Upid, WaitOptions};
use serde_json::{Value, json};

use crate::App;
use crate::args::TableOutput;
use crate::exit::{pve_err, usage};
use crate::output::{self, OutputFormat, Table};

/// Task commands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// List recent tasks on every node (newest first).
    ///
    /// Examples:
    ///   pvectl task list --vmid 150
    ///   pvectl task list --running
    ///   pvectl task list --errors --type qmstart -o json
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Follow a task's status and log to its end (exit 1 if it fails).
    ///
    /// Example: pvectl task watch 'UPID:pve1:0000A1B2:...'
    Watch {
        /// The task.
        upid: String,
    },
    /// Print a task's log.
    ///
    /// Example: pvectl task logs 'UPID:pve1:...' -f
    #[command(visible_alias = "log")]
    Logs {
        /// The task.
        upid: String,
        /// Keep following until the task ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Show a task's status.
    ///
    /// Example: pvectl task status 'UPID:pve1:...' -o json
    Status {
        /// The task.
        upid: String,
        /// Output format.
        #[arg(short, long, default_value = "table")]
        output: OutputFormat,
    },
    /// Stop a running task.
    ///
    /// Example: pvectl task stop 'UPID:pve1:...'
    Stop {
        /// The task.
        upid: String,
    },
}

/// `task list` filters.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this node.
    #[arg(long)]
    pub node: Option<String>,
    /// Only tasks of this guest.
    #[arg(long)]
    pub vmid: Option<u32>,
    /// Only this task type (`qmstart`, `vzcreate`, ...).
    #[arg(long = "type")]
    pub task_type: Option<String>,
    /// Only failed tasks.
    #[arg(long)]
    pub errors: bool,
    /// Only running tasks.
    #[arg(long)]
    pub running: bool,
    /// Only tasks of users matching this text.
    #[arg(long)]
    pub user: Option<String>,
    /// At most this many per node.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub format: TableOutput,
}

fn parse_upid(text: &str) -> anyhow::Result<Upid> {
    text.trim().parse().map_err(|_| {
        usage(format!(
            "{text:?} is not a UPID (UPID:node:pid:pstart:starttime:type:id:user:); \
             see `pvectl task list`"
        ))
    })
}

/// Run a `task` subcommand.
pub async fn run(app: &App, cmd: TaskCommand) -> anyhow::Result<()> {
    let client = &app.conn.client;
    match cmd {
        TaskCommand::List(args) => list(app, &args).await,
        TaskCommand::Watch { upid } => {
            let upid = parse_upid(&upid)?;
            follow(app, &upid, 0).await
        }
        TaskCommand::Logs { upid, follow: f } => {
            let upid = parse_upid(&upid)?;
            let lines = client
                .task_log_from(&upid, 0)
                .await
                .map_err(|e| pve_err("cannot read the task log", e))?;
            for l in &lines {
                outln!("{}", l.t);
            }
            if f {
                let seen = u32::try_from(lines.len()).unwrap_or(u32::MAX);
                follow(app, &upid, seen).await?;
            }
            Ok(())
        }
        TaskCommand::Status { upid, output } => {
            let upid = parse_upid(&upid)?;
            let st = client
                .task_status(&upid)
                .await
                .map_err(|e| pve_err("cannot read the task status", e))?;
            let doc = json!({
                "upid": st.upid.to_string(),
                "node": st.upid.node,
                "type": st.kind,
                "id": st.id,
                "user": st.user,
                "started": output::rfc3339(st.starttime),
                "status": st.status,
                "exitstatus": st.exitstatus,
            });
            match output {
                OutputFormat::Json | OutputFormat::Yaml => output::print_value(&doc, output)?,
                _ => {
                    let mut t = Table::new(&["TYPE", "ID", "STARTED", "STATUS", "EXIT"]);
                    t.row(vec![
                        st.kind.clone(),
                        st.id.clone().unwrap_or_default(),
                        output::rfc3339(st.starttime),
                        st.status.clone(),
                        st.exitstatus.clone().unwrap_or_default(),
                    ]);
                    t.print(false);
                }
            }
            Ok(())
        }
        TaskCommand::Stop { upid } => {
            let upid = parse_upid(&upid)?;
            let mut record = app.record();
            record.upids.push(upid.to_string());
            if let Some(v) = upid.vmid() {
                record.guests.push(v.to_string());
            }
            let result = client.task_stop(&upid).await;
            if let Err(e) = &result {
                record.outcome = "failed".into();
                record.error = Some(e.to_string());
            }
            crate::journal::append(&record);
            result.map_err(|e| pve_err("cannot stop the task", e))?;
            outln!("Stop requested for {upid}.");
            Ok(())
        }
    }
}

/// How often a piped `watch` says the task is still running when its log is quiet.
const QUIET_STATUS: std::time::Duration = std::time::Duration::from_secs(5);

/// Follow a task to its end: its log lines from `seen` on as they come (stdout, `tail -f`
/// style), its status and elapsed time (a spinner on a terminal; a line on stderr at the start
/// and whenever the log has been quiet for a while when piped), and at the end its exit status.
/// A failed task's error is said once, in that last line (its log lines were just shown).
async fn follow(app: &App, upid: &Upid, seen: u32) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let opts = WaitOptions {
        poll_interval: app.wait.poll,
        timeout: app.wait.timeout,
        startup_grace: std::time::Duration::from_secs(10),
        follow_log: true,
        skip_log_when_ok_at_once: false,
    };
    let what = match upid.vmid() {
        Some(v) => format!("{} {v}", upid.task_type),
        None => upid.task_type.clone(),
    };
    let since_start = std::time::Duration::from_secs(
        output::now_secs().saturating_sub(u64::from(upid.starttime)),
    );
    let began = std::time::Instant::now()
        .checked_sub(since_start)
        .unwrap_or_else(std::time::Instant::now);
    let elapsed = || output::duration(began.elapsed().as_secs());
    let bar = app.progress.spinner(&what, since_start);
    if bar.is_none() {
        eprintln!(
            "{what}: running, started {} ({} ago)",
            output::rfc3339(u64::from(upid.starttime)),
            elapsed()
        );
    }
    let print = |line: &str| match &bar {
        Some(b) => b.suspend(|| outln!("{line}")),
        None => outln!("{line}"),
    };
    let stream = client.watch_task(upid, opts);
    futures::pin_mut!(stream);
    let mut printed = 0u32;
    let mut quiet_since = std::time::Instant::now();
    let mut outcome = None;
    while let Some(step) = stream.next().await {
        let p = step.map_err(|e| pve_err("cannot follow the task", e))?;
        for line in &p.lines {
            printed += 1;
            if printed > seen {
                print(line);
                quiet_since = std::time::Instant::now();
            }
        }
        if p.outcome.is_some() {
            outcome = p.outcome;
            break;
        }
        if bar.is_none() && quiet_since.elapsed() >= QUIET_STATUS {
            eprintln!("{what}: running, {} elapsed", elapsed());
            quiet_since = std::time::Instant::now();
        }
    }
    let (text, result) = match &outcome {
        // The log (its error lines included) was just printed and this line says how it
        // ended: nothing more to repeat.
        Some(TaskOutcome::Error(msg)) => (
            format!("✗ {what}: failed after {}: exit status {msg}", elapsed()),
            Err(crate::exit::quiet(crate::exit::FAILED)),
        ),
        Some(TaskOutcome::Warnings(n)) => (
            format!("✓ {what}: OK with {n} warnings after {}", elapsed()),
            Ok(()),
        ),
        Some(_) => (format!("✓ {what}: OK after {}", elapsed()), Ok(())),
        None => (
            format!("… {what}: still running after {}", elapsed()),
            Err(anyhow::anyhow!(
                "gave up waiting for task {upid} (still running?); raise --wait-timeout"
            )),
        ),
    };
    match &bar {
        Some(b) => app.progress.finish(b, &text),
        None => eprintln!("{}", text.trim_start_matches(['✓', '✗', '…', ' '])),
    }
    result
}

async fn list(app: &App, args: &ListArgs) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let nodes: Vec<String> = match &args.node {
        Some(n) => vec![n.clone()],
        None => client
            .nodes()
            .await
            .map_err(|e| pve_err("cannot list nodes", e))?
            .into_iter()
            .filter(|n| n.status == "online")
            .map(|n| n.node)
            .collect(),
    };
    let mut items: Vec<TaskListItem> = Vec::new();
    for node in nodes {
        let params = Params::new()
            .set("limit", args.limit)
            .opt("vmid", args.vmid)
            .opt("typefilter", args.task_type.as_deref())
            .opt("userfilter", args.user.as_deref())
            .opt_flag("errors", args.errors.then_some(true))
            .set("source", if args.running { "active" } else { "all" });
        let page: Vec<TaskListItem> = client
            .get(&format!("nodes/{node}/tasks"), params)
            .await
            .map_err(|e| pve_err(&format!("cannot list the tasks of {node}"), e))?;
        items.extend(page);
    }
    if args.running {
        items.retain(|t| t.endtime.is_none() || t.status.as_deref() == Some("RUNNING"));
    }
    items.sort_by(|a, b| {
        b.upid
            .starttime
            .cmp(&a.upid.starttime)
            .then(a.upid.to_string().cmp(&b.upid.to_string()))
    });
    let docs: Vec<Value> = items
        .iter()
        .map(|t| {
            json!({
                "upid": t.upid.to_string(),
                "node": t.upid.node,
                "type": t.kind,
                "id": t.id,
                "user": t.user,
                "started": output::rfc3339(u64::from(t.upid.starttime)),
                "ended": t.endtime.map(output::rfc3339),
                "status": t.status.clone().unwrap_or_else(|| "RUNNING".into()),
            })
        })
        .collect();
    match args.format.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            output::print_value(&Value::Array(docs), args.format.output)?;
        }
        OutputFormat::Name => {
            for t in &items {
                outln!("{}", t.upid);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let mut t = Table::new(&["STARTED", "NODE", "TYPE", "ID", "USER", "STATUS", "UPID"]);
            for d in &docs {
                let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                t.row(vec![
                    s("started"),
                    s("node"),
                    s("type"),
                    s("id"),
                    s("user"),
                    s("status"),
                    s("upid"),
                ]);
            }
            t.print(args.format.no_headers);
        }
    }
    Ok(())
}
