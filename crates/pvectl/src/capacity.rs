//! Node capacity before `create` and before `update` raises memory or vCPUs: a guest that
//! needs more than its node has in total could never start there, so it is refused unless
//! `--ignore-capacity`; more memory than is free now is a warning.

use crate::App;
use crate::exit::{Exit, FAILED};

/// The new value of `keys` multiplied (`memory`; `cores` x `sockets`) when `params` raise it
/// above what `config` has (an unset key counts as 1), for the capacity check of an update.
pub fn raised(
    config: &pve_client::types::GuestConfig,
    params: &pve_client::Params,
    keys: &[&str],
) -> Option<u64> {
    let given = |k: &str| {
        params
            .pairs()
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
    };
    let number = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
    let before: u64 = keys.iter().map(|k| number(config.get(k))).product();
    let after: u64 = keys
        .iter()
        .map(|k| number(given(k).or_else(|| config.get(k))))
        .product();
    let touched = keys.iter().any(|k| given(k).is_some());
    (touched && after > before).then_some(after)
}

/// Refuse a guest that needs more memory or CPUs than `node` has at all (it could never start
/// there); warn when it needs more memory than is free now. `ignore` (`--ignore-capacity`)
/// turns the refusal into a warning.
pub async fn check(
    app: &App,
    node: &str,
    memory_mib: Option<u64>,
    cpus: Option<u64>,
    ignore: bool,
) -> anyhow::Result<()> {
    if memory_mib.is_none() && cpus.is_none() {
        return Ok(());
    }
    let nodes = crate::preflight::nodes(&app.conn).await?;
    let Some(n) = nodes.iter().find(|n| n.node == node) else {
        return Ok(());
    };
    let mut problems = Vec::new();
    if let (Some(want), Some(total)) = (memory_mib, n.maxmem) {
        let want_bytes = want.saturating_mul(1 << 20);
        if want_bytes > total {
            problems.push(format!(
                "{want} MiB of memory is more than node {node} has ({})",
                crate::output::bytes(total)
            ));
        } else if let Some(used) = n.mem
            && want_bytes > total.saturating_sub(used)
        {
            app.progress.note(&format!(
                "warning: {want} MiB of memory is more than node {node} has free now ({} of {}); \
                 the guest may not start",
                crate::output::bytes(total.saturating_sub(used)),
                crate::output::bytes(total)
            ));
        }
    }
    if let (Some(want), Some(total)) = (cpus, n.maxcpu)
        && want > total
    {
        problems.push(format!(
            "{want} vCPUs are more than node {node} has ({total})"
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let text = problems.join("; ");
    if ignore {
        app.progress
            .note(&format!("warning: {text} (--ignore-capacity)"));
        return Ok(());
    }
    Err(Exit {
        code: FAILED,
        message: format!(
            "{text}: the guest could not start there; lower the value, choose another node, or \
             pass --ignore-capacity"
        ),
    }
    .into())
}
