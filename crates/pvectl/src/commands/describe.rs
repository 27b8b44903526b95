//! `vm|ct describe`: a guest in detail, for people: status, config (secrets redacted), pending
//! changes, the operator's ownership, and its recent tasks.

use clap::Args;
use pve_client::{GuestKind, REDACTED, is_secret_key};
use serde_json::Value;

use crate::App;
use crate::output::{self, Table};
use crate::select::{GuestInfo, Selection, resolve};

/// `describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub selection: Selection,
}

/// Run `describe`.
pub async fn describe(app: &App, kind: GuestKind, args: &DescribeArgs) -> anyhow::Result<()> {
    let guests = resolve(&app.conn, kind, &args.selection).await?;
    for (i, g) in guests.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        describe_one(app, g).await?;
    }
    Ok(())
}

async fn describe_one(app: &App, g: &GuestInfo) -> anyhow::Result<()> {
    let client = &app.conn.client;
    let handle = client.guest(g.kind, &g.node, g.vmid);
    let fail = |what: &str, e| g.read_failed(what, e);
    let status = handle.status().await.map_err(|e| fail("status", e))?;
    let config = handle.config().await.map_err(|e| fail("config", e))?;
    let pending = handle
        .pending()
        .await
        .map_err(|e| fail("pending changes", e))?;
    let tasks: Vec<pve_client::TaskListItem> = client
        .task_list(
            &g.node,
            &pve_client::TaskFilter {
                vmid: Some(g.vmid),
                limit: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_default();
    let field = |k: &str, v: String| outln!("{:<13}{}", format!("{k}:"), v);
    field("Name", g.name.clone());
    field("VMID", g.vmid.to_string());
    field(
        "Kind",
        if g.kind == GuestKind::Lxc {
            "ct (lxc)"
        } else {
            "vm (qemu)"
        }
        .to_string(),
    );
    field("Node", g.node.clone());
    let mut st = status.status.clone();
    if let Some(q) = status.qmpstatus.as_deref().filter(|q| *q != status.status) {
        st.push_str(&format!(" ({q})"));
    }
    if let Some(up) = status.uptime.filter(|u| *u > 0) {
        st.push_str(&format!(", up {}", output::duration(up)));
    }
    field("Status", st);
    field("Template", if g.template { "yes" } else { "no" }.into());
    field("Tags", g.tags.join(";"));
    field("Pool", g.pool.clone().unwrap_or_default());
    field("Lock", g.lock.clone().unwrap_or_default());
    let owners = g.owner_tags();
    if !owners.is_empty() {
        field(
            "Managed by",
            format!(
                "the kubepve operator ({}): manual changes will be undone",
                owners.join(", ")
            ),
        );
    }
    outln!("Config:");
    for (k, v) in &config.redacted().0 {
        if k == "digest" {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for (i, line) in text.lines().enumerate() {
            if i == 0 {
                outln!("  {k}: {line}");
            } else {
                outln!("  {:width$}  {line}", "", width = k.len());
            }
        }
    }
    let waiting: Vec<_> = pending.iter().filter(|p| p.is_change()).collect();
    outln!("Pending changes (applied at the next cold start):");
    if waiting.is_empty() {
        outln!("  <none>");
    }
    let show = |v: &Option<Value>, k: &str| match v {
        None => "(unset)".to_string(),
        Some(_) if is_secret_key(k) => REDACTED.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for p in waiting {
        let to = if p.is_delete() {
            "(deleted)".to_string()
        } else {
            show(&p.pending, &p.key)
        };
        outln!("  {}: {} -> {}", p.key, show(&p.value, &p.key), to);
    }
    outln!("Recent tasks:");
    if tasks.is_empty() {
        outln!("  <none>");
    } else {
        let mut t = Table::new(&["  STARTED", "TYPE", "USER", "STATUS", "UPID"]);
        for task in &tasks {
            t.row(vec![
                format!("  {}", output::rfc3339(u64::from(task.upid.starttime))),
                task.kind.clone(),
                task.user.clone(),
                task.status.clone().unwrap_or_default(),
                task.upid.to_string(),
            ]);
        }
        t.print(false);
    }
    Ok(())
}
