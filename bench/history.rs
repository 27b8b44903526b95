//! `pvectl history` over a large journal: an older `journal.jsonl` of N operations (default
//! 100,000; `--history-ops`) is imported into the SQLite journal on first use, then each filter
//! `history` offers is timed (median of 5 runs, each a separate process, so the figure includes
//! starting pvectl and opening the database). No Proxmox is involved.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::report::{Figure, at_most};
use crate::support::pvectl::Pvectl;

/// Operations in the journal by default.
pub const OPERATIONS: usize = 100_000;
/// Runs of each query (the median is reported).
const RUNS: usize = 5;
/// Milliseconds one filtered `history` may take over the journal (process start included).
const QUERY_MS: f64 = 300.0;

/// The `history` filters measured: (figure id part, arguments).
const QUERIES: &[(&str, &[&str])] = &[
    ("newest", &["history"]),
    ("guest", &["history", "--guest", "vm/104242"]),
    ("guest_name", &["history", "--guest", "web-4242"]),
    ("failed", &["history", "--failed", "-o", "json"]),
    (
        "since",
        &["history", "--since", "2025-01-31T20:00:00+05:00"],
    ),
    (
        "command",
        &["history", "--command", "delete", "--limit", "500"],
    ),
];

/// What the history runs measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRun {
    /// Operations in the journal.
    pub operations: usize,
    /// Wall time of the first `history` (the import), s.
    pub import_secs: f64,
    /// Median wall time of each query, ms, by id.
    pub query_ms: Vec<(String, f64)>,
}

/// One operation line of an older journal: every 10th failed, every 7th a delete, guests
/// spread over 5000 VMIDs, one a minute from 2025-01-01.
fn line(i: usize) -> String {
    let vmid = 100_000 + i % 5000;
    let secs = 1_735_689_600 + i as u64 * 60;
    let verb = if i.is_multiple_of(7) {
        "delete"
    } else {
        "start"
    };
    let outcome = if i.is_multiple_of(10) { "failed" } else { "ok" };
    serde_json::json!({
        "time": pvectl::output::rfc3339(secs),
        "user": "bench",
        "principal": "root@pam!bench",
        "context": "lab",
        "command": format!("pvectl vm {verb} {vmid} --yes"),
        "guests": [format!("vm/{vmid}"), format!("proxmoxvm/default/web-{}", i % 5000)],
        "upids": [format!("UPID:pve1:{:08X}:00000000:{:08X}:qm{verb}:{vmid}:root@pam:", i, secs)],
        "outcome": outcome,
    })
    .to_string()
}

/// Build the journal, import it, and time the queries.
pub fn run(bin: &Path, operations: usize) -> HistoryRun {
    let pvectl = Pvectl::with_binary(bin.to_path_buf());
    let file = std::fs::File::create(pvectl.path("journal.jsonl")).expect("journal.jsonl");
    let mut out = std::io::BufWriter::new(file);
    for i in 0..operations {
        writeln!(out, "{}", line(i)).expect("write journal.jsonl");
    }
    out.flush().expect("write journal.jsonl");
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let (code, _, err) = pvectl.run(args);
        assert_eq!(code, 0, "pvectl {}: {err}", args.join(" "));
        started.elapsed().as_secs_f64()
    };
    let import_secs = timed(&["history", "--limit", "1"]);
    let query_ms = QUERIES
        .iter()
        .map(|(id, args)| {
            let mut walls: Vec<f64> = (0..RUNS).map(|_| timed(args) * 1e3).collect();
            walls.sort_by(f64::total_cmp);
            (id.to_string(), walls[RUNS / 2])
        })
        .collect();
    HistoryRun {
        operations,
        import_secs,
        query_ms,
    }
}

/// The figures of the history run.
pub fn figures(run: &HistoryRun) -> Vec<Figure> {
    let n = run.operations;
    let mut figures = vec![Figure::measured(
        "pvectl.history.import_secs",
        crate::figures::PVECTL,
        format!("history: one-time import of a journal.jsonl of {n} operations"),
        run.import_secs,
        "s",
        None,
    )];
    for (id, ms) in &run.query_ms {
        let args = QUERIES
            .iter()
            .find(|(q, _)| q == id)
            .map_or(String::new(), |(_, a)| a.join(" "));
        figures.push(Figure::measured(
            format!("pvectl.history.{id}_ms"),
            crate::figures::PVECTL,
            format!("pvectl {args} over {n} operations (median of {RUNS})"),
            *ms,
            "ms",
            at_most(QUERY_MS),
        ));
    }
    figures
}
