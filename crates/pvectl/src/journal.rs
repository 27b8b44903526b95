//! The local journal: one JSON line per mutating command (time, local user, Proxmox user,
//! context, command line with secrets removed, guests, UPIDs, outcome), appended to
//! `$PVECTL_JOURNAL`, else `$XDG_STATE_HOME/pvectl/journal.jsonl`, else
//! `~/.local/state/pvectl/journal.jsonl`. pvectl only ever appends to it; `pvectl history`
//! reads and filters it. Dry runs and read-only commands are not recorded.
//!
//! A bulk command writes ahead ([`Progress`]): a `started` record naming every target, a `task`
//! record for each Proxmox task as soon as its UPID is known, and its final record. A command
//! killed midway leaves what it set out to do and every task it had started; `history` shows
//! those records only for runs that never finished.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::xdg_dir;
use crate::output::{OutputFormat, Table, now_secs, print_value, rfc3339};

/// One journal record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// RFC 3339 UTC.
    pub time: String,
    /// The local user who ran pvectl.
    pub user: String,
    /// The Proxmox user or token id.
    pub principal: String,
    /// The context.
    pub context: String,
    /// The command line, secrets removed.
    pub command: String,
    /// `vm/150`, `proxmoxvm/default/web-01`, ...
    pub guests: Vec<String>,
    /// Tasks started.
    pub upids: Vec<String>,
    /// `ok`, `failed`, `partial` or `aborted`; `started` and `task` for the records a bulk
    /// command writes as it goes.
    pub outcome: String,
    /// The error, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Links the records one bulk command writes as it goes to its final record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// Outcomes of the records written while a command runs.
const IN_FLIGHT: [&str; 2] = ["started", "task"];

/// The journal of one bulk command as it goes (see the module docs).
pub struct Progress {
    base: Record,
}

impl Progress {
    /// Appends the `started` record: `base` with every target in `guests`.
    pub fn start(mut base: Record, guests: Vec<String>) -> Self {
        base.run = Some(format!("{}-{}", now_secs(), std::process::id()));
        base.guests = guests;
        base.outcome = "started".into();
        append(&base);
        Self { base }
    }

    /// Appends a `task` record: `upid` was started for `guest`.
    pub fn task(&self, guest: &str, upid: &str) {
        let mut record = self.base.clone();
        record.time = rfc3339(now_secs());
        record.guests = vec![guest.to_string()];
        record.upids = vec![upid.to_string()];
        record.outcome = "task".into();
        append(&record);
    }

    /// Appends the final record of the run.
    pub fn finish(&self, mut record: Record) {
        record.run = self.base.run.clone();
        append(&record);
    }
}

/// Where the journal lives.
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("PVECTL_JOURNAL").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    xdg_dir("XDG_STATE_HOME", ".local/state").join("pvectl/journal.jsonl")
}

/// Flags whose values are secrets and never go into the journal.
const SECRET_FLAGS: &[&str] = &["--token-secret", "--password"];

/// The command line as recorded: secret flag values replaced.
pub fn command_line() -> String {
    let mut out: Vec<String> = Vec::new();
    let mut hide_next = false;
    let mut set_next = false;
    // `--set cipassword=...` carries a secret in its value.
    let hide_set = |kv: &str| match kv.split_once('=') {
        Some((k, _)) if crate::guest::is_secret_key(k.trim()) => format!("{k}=(redacted)"),
        _ => kv.to_string(),
    };
    for arg in std::env::args().skip(1) {
        if hide_next {
            out.push("(redacted)".into());
            hide_next = false;
            continue;
        }
        if set_next {
            out.push(hide_set(&arg));
            set_next = false;
            continue;
        }
        if let Some(kv) = arg.strip_prefix("--set=") {
            out.push(format!("--set={}", hide_set(kv)));
            continue;
        }
        set_next = arg == "--set";
        if let Some(flag) = SECRET_FLAGS
            .iter()
            .find(|f| arg.starts_with(&format!("{f}=")))
        {
            out.push(format!("{flag}=(redacted)"));
            continue;
        }
        hide_next = SECRET_FLAGS.contains(&arg.as_str());
        out.push(arg);
    }
    format!("pvectl {}", out.join(" "))
}

/// Append a record. A journal that cannot be written is reported, never fatal.
pub fn append(record: &Record) {
    let path = path();
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        f.write_all(format!("{line}\n").as_bytes())
    })();
    if let Err(e) = result {
        eprintln!("warning: cannot write the journal {}: {e}", path.display());
    }
}

/// A record for now, filled by the caller.
pub fn record(context: &str, principal: &str) -> Record {
    Record {
        time: rfc3339(now_secs()),
        user: std::env::var("USER").unwrap_or_default(),
        principal: principal.to_string(),
        context: context.to_string(),
        command: command_line(),
        guests: Vec::new(),
        upids: Vec::new(),
        outcome: "ok".into(),
        error: None,
        run: None,
    }
}

/// `pvectl history`: list journal records.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only records about this guest (VMID, `vm/150`, or an object name).
    #[arg(long)]
    pub guest: Option<String>,
    /// Only records of this context.
    #[arg(long)]
    pub context_name: Option<String>,
    /// Only records whose command contains this text (`delete`, `apply`).
    #[arg(long)]
    pub command: Option<String>,
    /// Only failed, partial or aborted commands.
    #[arg(long)]
    pub failed: bool,
    /// Only records at or after this RFC 3339 time (`2025-01-31`, `2025-01-31T12:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// The newest N records.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format.
    #[arg(short, long, default_value = "table")]
    pub output: OutputFormat,
    /// Do not print the header line.
    #[arg(long)]
    pub no_headers: bool,
}

/// Run `pvectl history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    let path = path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => anyhow::bail!("cannot read the journal {}: {e}", path.display()),
    };
    let matches_guest = |r: &Record, g: &str| {
        r.guests
            .iter()
            .any(|x| x == g || x.rsplit('/').next() == Some(g) || x.ends_with(&format!("/{g}")))
    };
    let all: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // The records a run wrote as it went matter only when it never finished.
    let finished: std::collections::HashSet<String> = all
        .iter()
        .filter(|r| !IN_FLIGHT.contains(&r.outcome.as_str()))
        .filter_map(|r| r.run.clone())
        .collect();
    let mut records: Vec<Record> = all
        .into_iter()
        .filter(|r| {
            !IN_FLIGHT.contains(&r.outcome.as_str())
                || r.run.as_ref().is_none_or(|run| !finished.contains(run))
        })
        .filter(|r: &Record| args.guest.as_deref().is_none_or(|g| matches_guest(r, g)))
        .filter(|r| args.context_name.as_ref().is_none_or(|c| &r.context == c))
        .filter(|r| {
            args.command
                .as_ref()
                .is_none_or(|c| r.command.contains(c.as_str()))
        })
        .filter(|r| !args.failed || r.outcome != "ok")
        .filter(|r| {
            args.since
                .as_ref()
                .is_none_or(|s| r.time.as_str() >= s.as_str())
        })
        .collect();
    let skip = records.len().saturating_sub(args.limit);
    records.drain(..skip);
    // The link between a run's records is the journal's own bookkeeping, not shown.
    for r in &mut records {
        r.run = None;
    }
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print_value(&serde_json::to_value(&records)?, args.output)?;
        }
        OutputFormat::Name => {
            for r in &records {
                println!("{}", r.time);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = args.output == OutputFormat::Wide;
            let mut headers = vec!["TIME", "CONTEXT", "OUTCOME", "GUESTS", "COMMAND"];
            if wide {
                headers.extend(["USER", "PRINCIPAL", "UPIDS"]);
            }
            let mut t = Table::new(&headers);
            for r in &records {
                let mut row = vec![
                    r.time.clone(),
                    r.context.clone(),
                    r.outcome.clone(),
                    r.guests.join(","),
                    r.command.clone(),
                ];
                if wide {
                    row.extend([r.user.clone(), r.principal.clone(), r.upids.join(",")]);
                }
                t.row(row);
            }
            t.print(args.no_headers);
        }
    }
    Ok(())
}
