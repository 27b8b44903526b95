//! Output: kubectl-style aligned tables (`table`, `wide`), `json`, `yaml` and `name`, plus
//! `--sort-by` and the small formatters (sizes, durations, times) the tables use.
//!
//! Tables go to stdout with columns separated by at least three spaces and no trailing blanks,
//! so `awk` and `cut -w` work. JSON and YAML print a stable document: the same field names in
//! the same order on every run, lists sorted as the table would be.

use std::cmp::Ordering;

use clap::ValueEnum;
use serde_json::Value;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// Aligned columns with more of them.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// `kind/id` per line.
    Name,
}

/// A table to print.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The text of the table.
    pub fn render(&self, no_headers: bool) -> String {
        let mut all: Vec<&Vec<String>> = Vec::new();
        if !no_headers {
            all.push(&self.headers);
        }
        all.extend(self.rows.iter());
        let cols = self.headers.len();
        let mut widths = vec![0usize; cols];
        for r in &all {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in all {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(cols) {
                line.push_str(c);
                if i + 1 < cols {
                    let pad = widths[i] - c.chars().count() + 3;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Print to stdout.
    pub fn print(&self, no_headers: bool) {
        out!("{}", self.render(no_headers));
    }
}

/// Print a JSON value as JSON or YAML (tables and names are the caller's job).
pub fn print_value(value: &Value, format: OutputFormat) -> anyhow::Result<()> {
    let value = &whole_numbers(value.clone());
    match format {
        OutputFormat::Yaml => out!("{}", to_yaml(value)?),
        _ => outln!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

/// Floats without a fraction as integers (`"cpus": 2`, not `2.0`), as Proxmox and kubectl
/// print counts.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A value as YAML text.
pub fn to_yaml(value: &Value) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(value)?)
}

/// Compare two JSON values for sorting: numbers numerically, the rest as text, absent last.
pub fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Greater,
        (_, None | Some(Value::Null)) => Ordering::Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or_default()
            .partial_cmp(&y.as_f64().unwrap_or_default())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => text(x).cmp(&text(y)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The field a `--sort-by` names: `name`, `.name`, `{.memory}`, `.status` (case-insensitive).
pub fn sort_key(spec: &str) -> String {
    spec.trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('.')
        .to_ascii_lowercase()
}

/// Sort JSON objects by a field (see [`sort_key`]); unknown fields are a usage error.
pub fn sort_by(items: &mut [Value], spec: &str, known: &[&str]) -> anyhow::Result<()> {
    let key = sort_key(spec);
    let key = match key.as_str() {
        "mem" | "maxmem" => "memory".to_string(),
        "disk" | "maxdisk" => "disk".to_string(),
        "id" => "vmid".to_string(),
        _ => key,
    };
    if !known.contains(&key.as_str()) {
        return Err(crate::exit::usage(format!(
            "cannot sort by {spec:?}: use one of {}",
            known.join(", ")
        )));
    }
    items.sort_by(|a, b| compare_values(a.get(&key), b.get(&key)));
    Ok(())
}

/// Bytes as `4.0G`, `512M` (binary units, like Proxmox).
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v >= 100.0 || v.fract() == 0.0 {
                format!("{v:.0}{unit}")
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{n}B")
}

/// Seconds as `3d4h`, `2h5m`, `45s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Unix seconds as RFC 3339 UTC (`2025-01-31T12:00:00Z`); beyond jiff's range (year 9999),
/// the largest time it has.
pub fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now, Unix seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_alignment_is_stable() {
        let mut t = Table::new(&["VMID", "NAME", "STATUS"]);
        t.row(vec!["100".into(), "a".into(), "running".into()]);
        t.row(vec!["1000".into(), "longer-name".into(), String::new()]);
        assert_eq!(
            t.render(false),
            "VMID   NAME          STATUS\n100    a             running\n1000   longer-name\n"
        );
        assert!(!t.render(true).contains("VMID"));
    }

    #[test]
    fn formats() {
        assert_eq!(bytes(4 << 30), "4G");
        assert_eq!(bytes(1536 << 20), "1.5G");
        assert_eq!(duration(3700), "1h1m");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(sort_key("{.memory}"), "memory");
    }

    #[test]
    fn whole_floats_print_as_integers() {
        let v = serde_json::json!({"cpus": 2.0, "load": 0.5, "list": [4.0], "vmid": 150});
        let w = whole_numbers(v);
        assert_eq!(
            w,
            serde_json::json!({"cpus": 2, "load": 0.5, "list": [4], "vmid": 150})
        );
        assert!(serde_json::to_string(&w).unwrap().contains("\"cpus\":2,"));
    }
}
