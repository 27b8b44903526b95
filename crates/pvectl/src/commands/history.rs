//! `pvectl history`: the operations journal ([`crate::journal`]) filtered in SQL (`--guest`,
//! `--failed`, `--since`, `--command`, `--context-name`, newest `--limit`), printed as a table
//! (with what changed in each guest's config) or as JSON/YAML with every recorded field.

use clap::Args;
use rusqlite::types::Value as Sql;
use serde::Serialize;
use serde_json::Value;

use crate::args::TableOutput;
use crate::exit::usage;
use crate::journal::store::Store;
use crate::output::{OutputFormat, Table, now_secs, print_value, rfc3339};

/// `pvectl history` flags.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only operations on this guest (VMID, `vm/150`, or an object name).
    #[arg(long)]
    pub guest: Option<String>,
    /// Only operations of this context.
    #[arg(long)]
    pub context_name: Option<String>,
    /// Only operations of this command: its words, as in the command line before the first
    /// flag (`delete`, `vm update`, `apply`); `--delete` and other flag values do not match.
    #[arg(long)]
    pub command: Option<String>,
    /// Only operations that did not end well: failed, partial, refused, declined, or never
    /// finished (`started`: pvectl was killed).
    #[arg(long)]
    pub failed: bool,
    /// Only operations at or after this time: a duration back from now (`90s`, `30m`, `1h`,
    /// `2d`, `1w`), an RFC 3339 time (`2025-01-31T12:00:00Z`, `2025-01-31T17:00:00+05:00`) or
    /// a date (`2025-01-31`, midnight UTC).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<i64>,
    /// The newest N operations.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub format: TableOutput,
}

const SINCE_FORMS: &str = "a duration back from now (90s, 30m, 1h, 2d, 1w), an RFC 3339 time \
     (2025-01-31T12:00:00Z, 2025-01-31T17:00:00+05:00) or a date (2025-01-31)";

/// `--since`: Unix seconds of the earliest operation to show.
pub fn parse_since(text: &str) -> Result<i64, String> {
    parse_since_at(text, i64::try_from(now_secs()).unwrap_or_default())
}

fn parse_since_at(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    if t.parse::<jiff::civil::DateTime>().is_ok() && t.len() > 10 {
        return Err(format!(
            "{text:?} has no UTC offset: write {t}Z for UTC, or add the offset (+05:00)"
        ));
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>()
        && let Ok(z) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp().as_second());
    }
    if let Ok(span) = t.parse::<jiff::Span>() {
        let secs = span.total((
            jiff::Unit::Second,
            jiff::SpanRelativeTo::days_are_24_hours(),
        ));
        if let Ok(secs) = secs
            && secs >= 0.0
        {
            return Ok(now - secs as i64);
        }
    }
    Err(format!("{text:?} is not a time: use {SINCE_FORMS}"))
}

/// One task of an operation.
#[derive(Debug, Serialize)]
struct Task {
    upid: String,
    guest: Option<String>,
    #[serde(rename = "type")]
    task_type: Option<String>,
    start: Option<String>,
    end: Option<String>,
    status: Option<String>,
}

/// One changed config key.
#[derive(Debug, Serialize)]
struct KeyChange {
    guest: String,
    key: String,
    before: Value,
    after: Value,
}

/// One operation as `history` shows it.
#[derive(Debug, Serialize)]
struct Operation {
    id: i64,
    time: String,
    user: String,
    principal: String,
    context: String,
    command: String,
    outcome: String,
    reason: Option<String>,
    guests: Vec<String>,
    upids: Vec<String>,
    tasks: Vec<Task>,
    changes: Vec<KeyChange>,
}

/// The keys whose values differ between two recorded configs, in key order.
pub fn diff(before: &Value, after: &Value) -> Vec<(String, Value, Value)> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    // Proxmox gives some values as numbers, some as text: changes are always text.
    let text = |m: &serde_json::Map<String, Value>, k: &str| match m.get(k) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(other.to_string()),
    };
    keys.into_iter()
        .map(|k| (k.clone(), text(b, k), text(a, k)))
        .filter(|(_, before, after)| before != after)
        .collect()
}

/// Build the WHERE clause and its parameters.
fn filters(args: &HistoryArgs) -> (String, Vec<Sql>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Sql> = Vec::new();
    let bind = |v: Sql, params: &mut Vec<Sql>| {
        params.push(v);
        format!("?{}", params.len())
    };
    if let Some(g) = &args.guest {
        let exact = bind(Sql::Text(g.clone()), &mut params);
        let like = bind(Sql::Text(format!("%/{}", like_escape(g))), &mut params);
        clauses.push(format!(
            "o.id IN (SELECT operation FROM operation_guests WHERE guest = {exact} \
             OR name = {exact} OR guest LIKE {like} ESCAPE '\\')"
        ));
    }
    if let Some(c) = &args.context_name {
        let p = bind(Sql::Text(c.clone()), &mut params);
        clauses.push(format!("o.context = {p}"));
    }
    if let Some(c) = &args.command {
        let words = c.split_whitespace().collect::<Vec<_>>().join(" ");
        let p = bind(
            Sql::Text(format!("% {} %", like_escape(&words))),
            &mut params,
        );
        // The command's words: the command line up to its first flag.
        clauses.push(format!(
            "(' ' || CASE WHEN instr(o.command, ' -') > 0 \
             THEN substr(o.command, 1, instr(o.command, ' -') - 1) ELSE o.command END || ' ') \
             LIKE {p} ESCAPE '\\'"
        ));
    }
    if args.failed {
        clauses.push("o.outcome NOT IN ('ok', 'skipped')".into());
    }
    if let Some(s) = args.since {
        let p = bind(Sql::Integer(s), &mut params);
        clauses.push(format!("o.time >= {p}"));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The operations `args` selects, oldest first.
fn query(store: &Store, args: &HistoryArgs) -> rusqlite::Result<Vec<Operation>> {
    let conn = store.conn();
    let (clause, mut params) = filters(args);
    params.push(Sql::Integer(i64::try_from(args.limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT id, time, user, principal, context, command, outcome, reason FROM \
         (SELECT * FROM operations o {clause} ORDER BY o.id DESC LIMIT ?{}) ORDER BY id",
        params.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut ops: Vec<Operation> = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok(Operation {
                id: r.get(0)?,
                time: rfc3339(u64::try_from(r.get::<_, i64>(1)?).unwrap_or_default()),
                user: r.get(2)?,
                principal: r.get(3)?,
                context: r.get(4)?,
                command: r.get(5)?,
                outcome: r.get(6)?,
                reason: r.get(7)?,
                guests: Vec::new(),
                upids: Vec::new(),
                tasks: Vec::new(),
                changes: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut guests = conn.prepare(
        "SELECT guest, before, after FROM operation_guests WHERE operation = ?1 ORDER BY rowid",
    )?;
    let mut tasks = conn.prepare(
        "SELECT upid, guest, type, start, end, status FROM tasks WHERE operation = ?1 ORDER BY rowid",
    )?;
    let time = |t: Option<i64>| t.map(|t| rfc3339(u64::try_from(t).unwrap_or_default()));
    for op in &mut ops {
        let rows = guests.query_map([op.id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (guest, before, after) = row?;
            if let (Some(b), Some(a)) = (before, after) {
                let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
                for (key, before, after) in diff(&parse(&b), &parse(&a)) {
                    op.changes.push(KeyChange {
                        guest: guest.clone(),
                        key,
                        before,
                        after,
                    });
                }
            }
            op.guests.push(guest);
        }
        let rows = tasks.query_map([op.id], |r| {
            Ok(Task {
                upid: r.get(0)?,
                guest: r.get(1)?,
                task_type: r.get(2)?,
                start: time(r.get(3)?),
                end: time(r.get(4)?),
                status: r.get(5)?,
            })
        })?;
        for t in rows {
            let t = t?;
            op.upids.push(t.upid.clone());
            op.tasks.push(t);
        }
    }
    Ok(ops)
}

/// `key: before -> after` for the table.
fn change_text(c: &KeyChange) -> String {
    let show = |v: &Value| match v {
        Value::Null => "(unset)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("{}: {} -> {}", c.key, show(&c.before), show(&c.after))
}

/// Run `pvectl history`.
pub fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    if args.limit == 0 {
        return Err(usage("--limit must be at least 1"));
    }
    let store = Store::open(&crate::journal::path())?;
    let ops = query(&store, args).map_err(|e| store.err(e))?;
    match args.format.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print_value(&serde_json::to_value(&ops)?, args.format.output)?;
        }
        OutputFormat::Name => {
            for op in &ops {
                outln!("operation/{}", op.id);
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            if let (true, Some(g)) = (ops.is_empty(), &args.guest) {
                eprintln!(
                    "No operations on guest {g:?} in the journal (give its VMID, vm/VMID or its \
                     name)."
                );
            }
            let wide = args.format.output == OutputFormat::Wide;
            let mut headers = vec!["ID", "TIME", "CONTEXT", "OUTCOME", "GUESTS", "COMMAND"];
            if wide {
                headers.extend(["USER", "PRINCIPAL", "UPIDS", "REASON"]);
            }
            headers.push("CHANGES");
            let mut t = Table::new(&headers);
            for op in &ops {
                let mut row = vec![
                    op.id.to_string(),
                    op.time.clone(),
                    op.context.clone(),
                    op.outcome.clone(),
                    op.guests.join(","),
                    op.command.clone(),
                ];
                if wide {
                    row.extend([
                        op.user.clone(),
                        op.principal.clone(),
                        op.upids.join(","),
                        op.reason.clone().unwrap_or_default(),
                    ]);
                }
                row.push(
                    op.changes
                        .iter()
                        .map(change_text)
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                t.row(row);
            }
            t.print(args.format.no_headers);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn since_takes_durations_times_with_offsets_and_dates() {
        assert_eq!(parse_since_at("1h", NOW), Ok(NOW - 3600));
        assert_eq!(parse_since_at("30m", NOW), Ok(NOW - 1800));
        assert_eq!(parse_since_at("2d", NOW), Ok(NOW - 2 * 86400));
        assert_eq!(parse_since_at("1s", NOW), Ok(NOW - 1));
        // The same instant written with two offsets.
        let utc = parse_since_at("2026-12-01T12:00:00Z", NOW);
        assert_eq!(utc, parse_since_at("2026-12-01T17:00:00+05:00", NOW));
        assert_eq!(utc, Ok(1_796_126_400));
        assert_eq!(parse_since_at("2026-12-01", NOW), Ok(1_796_083_200));
    }

    #[test]
    fn since_rejects_what_is_not_a_time_and_lists_the_forms() {
        for bad in ["not-a-time", "2026-13-45", "", "-1h", "5 parsecs"] {
            let err = parse_since_at(bad, NOW).unwrap_err();
            assert!(
                err.contains("RFC 3339") && err.contains("30m"),
                "{bad}: {err}"
            );
        }
    }
}
