//! Reading what a process used (from /proc) and how many Proxmox calls the operator counted
//! (from its `kubepve_pve_requests_total` metric).

use std::collections::BTreeMap;

/// Peak resident set size (VmHWM) of process `pid` (`"self"` for this one), in MiB.
pub fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// User plus system CPU time of process `pid` so far, in seconds.
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // numbered from 3, so utime (14) and stime (15) are the 12th and 13th after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless configured otherwise).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Proxmox requests by operation, from the OpenMetrics text of the operator's metrics.
pub fn pve_requests(metrics: &str) -> BTreeMap<String, u64> {
    let mut by_operation = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("kubepve_pve_requests_total{"))
    {
        let operation = line
            .split_once("operation=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(op, _)| op.to_string())
            .unwrap_or_default();
        let count = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default();
        *by_operation.entry(operation).or_default() += count;
    }
    by_operation
}

/// The total of [`pve_requests`].
pub fn total(by_operation: &BTreeMap<String, u64>) -> u64 {
    by_operation.values().sum()
}

/// The difference of two [`pve_requests`] readings, without zero entries.
pub fn delta(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_summed_by_operation_across_outcomes() {
        let text = "# TYPE kubepve_pve_requests counter\n\
            kubepve_pve_requests_total{operation=\"cluster_resources\",outcome=\"ok\"} 3\n\
            kubepve_pve_requests_total{operation=\"qemu_create\",outcome=\"ok\"} 10\n\
            kubepve_pve_requests_total{operation=\"qemu_create\",outcome=\"error\"} 2\n\
            kubepve_reconciles_total{kind=\"ProxmoxVM\"} 40\n";
        let by_op = pve_requests(text);
        assert_eq!(by_op["qemu_create"], 12);
        assert_eq!(by_op["cluster_resources"], 3);
        assert_eq!(total(&by_op), 15);
    }

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        assert!(peak_rss_mib("self").is_some_and(|m| m > 0.0));
        assert!(cpu_secs("self").is_some());
    }
}
