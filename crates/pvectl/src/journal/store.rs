//! The journal's SQLite database: opening it (0600 in a 0700 folder, WAL mode and a busy
//! timeout so several pvectl processes can write at once), the versioned schema
//! (`PRAGMA user_version`, one migration per version), the one-time import of an older
//! `journal.jsonl`, and the writes that [`super`] exposes.
//!
//! Tables: `operations` (one row per command: time, local user, Proxmox user, context,
//! command line without secrets, outcome, reason), `operation_guests` (one row per guest an
//! operation touched, with its redacted config before and after a change) and `tasks` (one row
//! per Proxmox task: UPID, type, start, end, exit status).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, Transaction, params};

use super::{Record, parse_time};

/// What can go wrong with the journal database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder or file could not be created or protected.
    #[error("cannot prepare the journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("journal database {path}: {source}")]
    Sql {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
}

/// How long a writer waits for another pvectl holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often opening retries a lock SQLite does not wait for (20 ms apart).
const BUSY_RETRIES: u32 = 500;

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The schema, one entry per version: entry `n` takes `user_version` from `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        user TEXT NOT NULL,
        principal TEXT NOT NULL,
        context TEXT NOT NULL,
        command TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX operations_time ON operations(time);
    CREATE INDEX operations_outcome ON operations(outcome);
    CREATE TABLE operation_guests (
        operation INTEGER NOT NULL REFERENCES operations(id),
        guest TEXT NOT NULL,
        name TEXT NOT NULL,
        before TEXT,
        after TEXT,
        PRIMARY KEY (operation, guest)
    );
    CREATE INDEX operation_guests_guest ON operation_guests(guest);
    CREATE INDEX operation_guests_name ON operation_guests(name);
    CREATE TABLE tasks (
        upid TEXT PRIMARY KEY,
        operation INTEGER REFERENCES operations(id),
        guest TEXT,
        type TEXT,
        start INTEGER,
        end INTEGER,
        status TEXT
    );
    CREATE INDEX tasks_operation ON tasks(operation);
"];

/// An open journal.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating and migrating) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::dir(dir).map_err(io)?;
        }
        // Created 0600 before SQLite sees it; SQLite gives the -wal and -shm files the same mode.
        crate::private::file_options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        crate::private::tighten(path).map_err(io)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sql {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        // Switching a new file to WAL takes a lock that SQLite does not wait for: when several
        // pvectl processes create the journal at once, the others retry (bounded).
        let mut tries = 0;
        loop {
            match store.prepare() {
                Ok(()) => return Ok(store),
                Err(e) if is_busy(&e) && tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(store.err(e)),
            }
        }
    }

    /// The error for `source` on this journal.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// The connection, for queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn prepare(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        self.conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
        self.conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        let target = MIGRATIONS.len() as i64;
        let version =
            |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        if version(&self.conn)? >= target {
            return Ok(());
        }
        // One process migrates; the others wait for it and then find the work done.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let from = version(&tx)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            tx.execute_batch(sql)?;
            if i == 0 {
                import_jsonl(&tx, &self.path)?;
            }
        }
        tx.execute_batch(&format!("PRAGMA user_version = {target}"))?;
        tx.commit()
    }

    /// Insert or complete an operation (`id` from an earlier [`Store::write`] of the same run).
    pub fn write(&mut self, record: &Record, id: Option<i64>) -> rusqlite::Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = write_tx(&tx, record, id)?;
        tx.commit()?;
        Ok(id)
    }

    /// Record that a task was started for `guest` by operation `id`.
    pub fn task_started(&self, id: i64, guest: &str, upid: &str) -> rusqlite::Result<()> {
        upsert_task(&self.conn, Some(id), Some(guest), upid)
    }

    /// Record how a task ended (`status` is Proxmox's exit status, `OK` or the error).
    pub fn task_finished(&self, upid: &str, end: i64, status: &str) -> rusqlite::Result<()> {
        upsert_task(&self.conn, None, None, upid)?;
        self.conn.execute(
            "UPDATE tasks SET end = ?2, status = ?3 WHERE upid = ?1",
            params![upid, end, status],
        )?;
        Ok(())
    }
}

fn write_tx(tx: &Transaction<'_>, r: &Record, id: Option<i64>) -> rusqlite::Result<i64> {
    let time = parse_time(&r.time).unwrap_or_default();
    let id = match id {
        Some(id) => {
            tx.prepare_cached("UPDATE operations SET outcome = ?2, reason = ?3 WHERE id = ?1")?
                .execute(params![id, r.outcome, r.error])?;
            // The finished record names the guests it touched: a target written ahead that it
            // skipped (nothing to do) and that started no task is no longer listed.
            let ahead: Vec<String> = tx
                .prepare_cached(
                    "SELECT guest FROM operation_guests g WHERE operation = ?1 AND NOT EXISTS \
                     (SELECT 1 FROM tasks t WHERE t.operation = ?1 AND t.guest = g.guest)",
                )?
                .query_map([id], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for g in ahead.iter().filter(|g| !r.guests.contains(g)) {
                tx.prepare_cached(
                    "DELETE FROM operation_guests WHERE operation = ?1 AND guest = ?2",
                )?
                .execute(params![id, g])?;
            }
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO operations (time, user, principal, context, command, outcome, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                time,
                r.user,
                r.principal,
                r.context,
                r.command,
                r.outcome,
                r.error
            ])?;
            tx.last_insert_rowid()
        }
    };
    for g in &r.guests {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO operation_guests (operation, guest, name) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, g, super::guest_name(g)])?;
    }
    for c in &r.changes {
        tx.prepare_cached(
            "INSERT INTO operation_guests (operation, guest, name, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (operation, guest) DO UPDATE SET before = ?4, after = ?5",
        )?
        .execute(params![
            id,
            c.guest,
            super::guest_name(&c.guest),
            c.before.to_string(),
            c.after.to_string()
        ])?;
    }
    for upid in &r.upids {
        upsert_task(tx, Some(id), None, upid)?;
    }
    Ok(id)
}

/// Insert a task row (type and start from the UPID) or fill in what an earlier row lacked.
fn upsert_task(
    conn: &Connection,
    id: Option<i64>,
    guest: Option<&str>,
    upid: &str,
) -> rusqlite::Result<()> {
    let parsed: Option<pve_client::Upid> = upid.parse().ok();
    conn.prepare_cached(
        "INSERT INTO tasks (upid, operation, guest, type, start) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (upid) DO UPDATE SET
             operation = coalesce(operation, excluded.operation),
             guest = coalesce(guest, excluded.guest)",
    )?
    .execute(params![
        upid,
        id,
        guest,
        parsed.as_ref().map(|u| u.task_type.clone()),
        parsed.as_ref().map(|u| i64::from(u.starttime))
    ])?;
    Ok(())
}

/// Bring the records of an older `journal.jsonl` beside the database (same name, `.jsonl`) in,
/// once (the file is
/// left as it is). A bulk run's `started` and `task` lines become one operation with its tasks.
fn import_jsonl(tx: &Transaction<'_>, db: &Path) -> rusqlite::Result<()> {
    let old = db.with_extension("jsonl");
    if old == db {
        return Ok(());
    }
    let Ok(text) = std::fs::read_to_string(&old) else {
        return Ok(());
    };
    let mut runs: std::collections::HashMap<String, i64> = Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(record) = serde_json::from_str::<Record>(line) else {
            eprintln!(
                "warning: {}: skipped a line that is not a journal record",
                old.display()
            );
            continue;
        };
        let known = record.run.as_ref().and_then(|r| runs.get(r)).copied();
        if record.outcome == "task" {
            let id = match known {
                Some(id) => id,
                None => {
                    let started = Record {
                        upids: vec![],
                        outcome: "started".into(),
                        ..record.clone()
                    };
                    write_tx(tx, &started, None)?
                }
            };
            for upid in &record.upids {
                upsert_task(
                    tx,
                    Some(id),
                    record.guests.first().map(String::as_str),
                    upid,
                )?;
            }
            if let Some(run) = &record.run {
                runs.insert(run.clone(), id);
            }
            continue;
        }
        let id = write_tx(tx, &record, known)?;
        if let Some(run) = &record.run {
            runs.insert(run.clone(), id);
        }
    }
    let imported: i64 = tx.query_row("SELECT count(*) FROM operations", [], |r| r.get(0))?;
    eprintln!(
        "note: imported {imported} operation(s) from {} into the journal database {} (the old file is left as it is)",
        old.display(),
        db.display()
    );
    Ok(())
}
