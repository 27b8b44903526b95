//! The operations journal: every mutating command (not dry runs) as one row of an SQLite
//! database (see [`store`]) at `$PVECTL_JOURNAL` (a `.jsonl` name there means the `.db` beside
//! it), else `$XDG_STATE_HOME/pvectl/journal.db`, else
//! `~/.local/state/pvectl/journal.db`: time, local user, Proxmox user, context, command line with
//! secrets removed, outcome and reason, the guests it touched (with their config before and after
//! a change, secrets redacted) and the Proxmox tasks it started (UPID, type, start, end, exit
//! status). `pvectl history` queries it ([`crate::commands::history`]), `pvectl rollback` reads the
//! recorded configs back ([`crate::commands::rollback`]).
//!
//! A bulk command writes ahead ([`Started`]): its row is written as `started` naming every
//! target before anything is sent, each task as soon as its UPID is known, and the outcome at the
//! end; a pvectl killed midway leaves a `started` operation with every task it had started.
//! A journal that cannot be written is reported on stderr, never fatal.
//!
//! Each guest row keeps the guest's Proxmox name (so `history --guest web-01` finds it): the
//! names are learnt where pvectl reads the cluster's guest list or creates a guest
//! ([`name_guest`]); a guest never seen by name keeps the last part of its label.

pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use pve_client::{REDACTED, is_secret_key};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{BaseDir, xdg_dir};
use crate::output::{now_secs, rfc3339};

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
    /// `ok`, `failed`, `partial`, `skipped` (nothing to do), `aborted`, `declined` or
    /// `refused`; `started` and `task` for the records a bulk command writes as it goes.
    pub outcome: String,
    /// The error, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Links the lines one bulk command wrote as it went in an older `journal.jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The configs before and after each change of a guest.
    #[serde(skip)]
    pub changes: Vec<Change>,
}

/// A guest's config before and after a change (secrets redacted, no digest).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `vm/150`.
    pub guest: String,
    /// The config before.
    pub before: Value,
    /// The config after.
    pub after: Value,
}

impl Record {
    /// Note that `guest`'s config went from `before` to `after`.
    pub fn changed(
        &mut self,
        guest: &str,
        before: &pve_client::types::GuestConfig,
        after: &pve_client::types::GuestConfig,
    ) {
        let clean = |c: &pve_client::types::GuestConfig| {
            let mut map = c.redacted().0;
            map.remove("digest");
            serde_json::json!(map)
        };
        self.changes.push(Change {
            guest: guest.to_string(),
            before: clean(before),
            after: clean(after),
        });
    }
}

/// The journal entry of a command that has started and not yet finished: written as `started`
/// before the first request, with each UPID as it comes, and finished with the outcome (see the
/// module docs). Not to be confused with `progress::Progress`, the terminal display.
pub struct Started {
    id: Option<i64>,
}

impl Started {
    /// Writes the operation as `started`: `base` with every target in `guests`.
    pub fn start(mut base: Record, guests: Vec<String>) -> Self {
        base.guests = guests;
        base.outcome = "started".into();
        Self {
            id: write(&base, None),
        }
    }

    /// Writes that `upid` was started for `guest`.
    pub fn task(&self, guest: &str, upid: &str) {
        if let Some(id) = self.id {
            with_store(|s| s.task_started(id, guest, upid));
        }
    }

    /// Writes the outcome of the run.
    pub fn finish(&self, record: Record) {
        write(&record, self.id);
    }
}

/// The Proxmox names of the guests this process has seen, by label (`vm/150` -> `web-01`).
static NAMES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Remember that the guest `label` is called `name`.
pub fn name_guest(label: &str, name: &str) {
    if let Ok(mut names) = NAMES.lock()
        && !name.is_empty()
    {
        names.insert(label.to_string(), name.to_string());
    }
}

/// The name the journal keeps for `label`: its Proxmox name when known, else the label's last
/// part (`proxmoxvm/default/web` -> `web`).
pub fn guest_name(label: &str) -> String {
    NAMES
        .lock()
        .ok()
        .and_then(|names| names.get(label).cloned())
        .unwrap_or_else(|| label.rsplit('/').next().unwrap_or(label).to_string())
}

/// Where the journal lives.
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("PVECTL_JOURNAL").filter(|v| !v.is_empty()) {
        // An older setup names the JSON-lines file: the database goes beside it (and imports it).
        let p = PathBuf::from(p);
        return if p.extension().is_some_and(|e| e == "jsonl") {
            p.with_extension("db")
        } else {
            p
        };
    }
    xdg_dir(BaseDir::State).join("pvectl/journal.db")
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
        Some((k, _)) if is_secret_key(k.trim()) => format!("{k}={REDACTED}"),
        _ => kv.to_string(),
    };
    for arg in std::env::args().skip(1) {
        if hide_next {
            out.push(REDACTED.into());
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
            out.push(format!("{flag}={REDACTED}"));
            continue;
        }
        hide_next = SECRET_FLAGS.contains(&arg.as_str());
        out.push(arg);
    }
    format!("pvectl {}", out.join(" "))
}

/// Write a finished operation.
pub fn append(record: &Record) {
    write(record, None);
}

/// Write how a task ended (Proxmox's exit status: `OK`, `WARNINGS: n` or the error).
pub fn task_finished(upid: &str, status: &str) {
    let end = i64::try_from(now_secs()).unwrap_or_default();
    with_store(|s| s.task_finished(upid, end, status));
}

fn write(record: &Record, id: Option<i64>) -> Option<i64> {
    with_store(|s| s.write(record, id))
}

/// The journal this process opened, with its path: opened once and kept, because each open
/// and close of an SQLite database in WAL mode costs a checkpoint with its fsyncs and the
/// removal of the WAL file, and an `apply` writes how each of its tasks ended.
static OPEN: Mutex<Option<(PathBuf, store::Store)>> = Mutex::new(None);

/// Close the journal this process opened, if it did: SQLite folds the write-ahead log into
/// the database and removes it when the last connection closes.
pub fn close() {
    let mut open = OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *open = None;
}

/// Run `f` on the open journal; a failure is a warning.
fn with_store<T>(f: impl FnOnce(&mut store::Store) -> rusqlite::Result<T>) -> Option<T> {
    let path = path();
    let mut open = OPEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if open.as_ref().is_none_or(|(p, _)| *p != path) {
        *open = None;
        match store::Store::open(&path) {
            Ok(s) => *open = Some((path, s)),
            Err(e) => {
                eprintln!("warning: {e}");
                return None;
            }
        }
    }
    let (_, s) = open.as_mut()?;
    let result = f(s).map_err(|e| s.err(e));
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("warning: {e}");
            None
        }
    }
}

/// The local user: `$USER`, else the name of the uid (cron, containers), else the uid.
pub fn local_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    let uid = uzers::get_current_uid();
    uzers::get_user_by_uid(uid)
        .map(|u| u.name().to_string_lossy().into_owned())
        .unwrap_or_else(|| uid.to_string())
}

/// An RFC 3339 time as Unix seconds (offsets honoured).
pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// A record for now, filled by the caller.
pub fn record(context: &str, principal: &str) -> Record {
    Record {
        time: rfc3339(now_secs()),
        user: local_user(),
        principal: principal.to_string(),
        context: context.to_string(),
        command: command_line(),
        guests: Vec::new(),
        upids: Vec::new(),
        outcome: "ok".into(),
        error: None,
        run: None,
        changes: Vec::new(),
    }
}
