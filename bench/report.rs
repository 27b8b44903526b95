//! The figures the bench measures, their targets, the table it prints and the JSON it writes.

use serde::Serialize;
use serde_json::{Value, json};

/// How a figure compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The figure meets its target.
    Pass,
    /// The figure misses its target.
    Fail,
    /// Measured, with no target (context for the other figures).
    Info,
    /// Not measured here (see `note`).
    Skipped,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable identifier, also the JSON key (`inprocess.instant.n1000.converge_secs`).
    pub id: String,
    /// Where the figure comes from: "in-process operator, fake kube with watches", "kubepve run +
    /// real API server", "pvectl".
    pub scope: &'static str,
    /// What was measured, for people.
    pub what: String,
    /// The value (`None` when skipped).
    pub value: Option<f64>,
    /// Its unit.
    pub unit: &'static str,
    /// The target as text (`<= 5`), empty without one.
    pub target: String,
    /// Pass, fail, info or skipped.
    pub verdict: Verdict,
    /// Why it was skipped, or what to know about it.
    pub note: String,
}

/// A target: the figure must be at most this.
pub fn at_most(limit: f64) -> Option<f64> {
    Some(limit)
}

impl Figure {
    /// A measured figure, judged against `max` when given (`value <= max` passes).
    pub fn measured(
        id: impl Into<String>,
        scope: &'static str,
        what: impl Into<String>,
        value: f64,
        unit: &'static str,
        max: Option<f64>,
    ) -> Self {
        let (target, verdict) = match max {
            Some(max) if value <= max => (format!("<= {}", number(max)), Verdict::Pass),
            Some(max) => (format!("<= {}", number(max)), Verdict::Fail),
            None => (String::new(), Verdict::Info),
        };
        Self {
            id: id.into(),
            scope,
            what: what.into(),
            value: Some(value),
            unit,
            target,
            verdict,
            note: String::new(),
        }
    }

    /// A figure that could not be measured here, and why.
    pub fn skipped(
        id: impl Into<String>,
        scope: &'static str,
        what: impl Into<String>,
        unit: &'static str,
        max: Option<f64>,
        why: &str,
    ) -> Self {
        Self {
            id: id.into(),
            scope,
            what: what.into(),
            value: None,
            unit,
            target: max.map(|m| format!("<= {}", number(m))).unwrap_or_default(),
            verdict: Verdict::Skipped,
            note: why.into(),
        }
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// A number as the table shows it: integers bare, others with up to 3 significant decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The table printed at the end of a run.
pub fn table(figures: &[Figure]) -> String {
    let mut table = pvectl::output::Table::new(&["SCOPE", "FIGURE", "VALUE", "TARGET", "RESULT"]);
    for f in figures {
        let value = match f.value {
            Some(v) => format!("{} {}", number(v), f.unit),
            None => "-".into(),
        };
        let verdict = match f.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Info => "",
            Verdict::Skipped => "skipped",
        };
        table.row(vec![
            f.scope.to_string(),
            f.what.clone(),
            value,
            f.target.clone(),
            verdict.to_string(),
        ]);
    }
    table.render(false)
}

/// The JSON document: the machine, the profile settings and every figure by id.
pub fn json(figures: &[Figure], machine: Value, settings: Value) -> Value {
    let by_id: serde_json::Map<String, Value> = figures
        .iter()
        .map(|f| (f.id.clone(), serde_json::to_value(f).unwrap_or(Value::Null)))
        .collect();
    json!({
        "machine": machine,
        "settings": settings,
        "figures": by_id,
    })
}

/// The machine the figures come from: cores, memory, CPU model, rustc version.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "cpu_model": model,
        "memory_gib": mem_kib / (1024 * 1024),
        "rustc": rustc,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}
