//! Discovery: `node list`, `storage list`, `storage content` (templates, ISOs, disks) and
//! `version` (client and server, which also checks the credentials).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::App;
use crate::args::TableOutput;
use crate::exit::pve_err;
use crate::output::{self, OutputFormat, Table};

/// Node commands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the cluster's nodes.
    ///
    /// Example: pvectl node list -o json
    #[command(visible_alias = "ls")]
    List(TableOutput),
}

/// Storage commands.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// List storages (of one node, or of every online node).
    ///
    /// Example: pvectl storage list --content vztmpl
    #[command(visible_alias = "ls")]
    List {
        /// Only this node.
        #[arg(long)]
        node: Option<String>,
        /// Only storages that hold this content (`images`, `rootdir`, `vztmpl`, `iso`, `backup`).
        #[arg(long)]
        content: Option<String>,
        #[command(flatten)]
        format: TableOutput,
    },
    /// List what a storage holds.
    ///
    /// Examples:
    ///   pvectl storage content local --content vztmpl
    ///   pvectl storage content local --content iso -o name
    Content {
        /// The storage.
        storage: String,
        /// The node (default: the first online node).
        #[arg(long)]
        node: Option<String>,
        /// Only this content type (`vztmpl`, `iso`, `images`, `rootdir`, `backup`).
        #[arg(long)]
        content: Option<String>,
        #[command(flatten)]
        format: TableOutput,
    },
}

/// `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format (table, json or yaml).
    #[arg(short, long, default_value = "table")]
    pub output: OutputFormat,
}

fn emit(
    docs: Vec<Value>,
    f: &TableOutput,
    headers: &[&str],
    keys: &[&str],
    name_key: &str,
) -> anyhow::Result<()> {
    match f.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            output::print_value(&Value::Array(docs), f.output)
        }
        OutputFormat::Name => {
            for d in &docs {
                outln!("{}", d[name_key].as_str().unwrap_or_default());
            }
            Ok(())
        }
        _ => {
            let mut t = Table::new(headers);
            for d in &docs {
                t.row(
                    keys.iter()
                        .map(|k| match &d[*k] {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        })
                        .collect(),
                );
            }
            t.print(f.no_headers);
            Ok(())
        }
    }
}

/// Run a `node` subcommand.
pub async fn node(app: &App, cmd: NodeCommand) -> anyhow::Result<()> {
    let NodeCommand::List(f) = cmd;
    let mut nodes = app
        .conn
        .client
        .nodes()
        .await
        .map_err(|e| pve_err("cannot list nodes", e))?;
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    let docs = nodes
        .iter()
        .map(|n| {
            json!({
                "node": n.node,
                "status": n.status,
                "cpus": n.maxcpu,
                "cpu": n.cpu.map(|c| format!("{:.0}%", c * 100.0)),
                "memory": n.maxmem.map(output::bytes),
                "memoryUsed": n.mem.map(output::bytes),
                "uptime": n.uptime.map(output::duration),
                "fingerprint": n.ssl_fingerprint,
            })
        })
        .collect();
    emit(
        docs,
        &f,
        &["NAME", "STATUS", "CPUS", "CPU", "MEMORY", "USED", "UPTIME"],
        &[
            "node",
            "status",
            "cpus",
            "cpu",
            "memory",
            "memoryUsed",
            "uptime",
        ],
        "node",
    )
}

/// Run a `storage` subcommand.
pub async fn storage(app: &App, cmd: StorageCommand) -> anyhow::Result<()> {
    let client = &app.conn.client;
    match cmd {
        StorageCommand::List {
            node,
            content,
            format,
        } => {
            let nodes = match node {
                Some(n) => vec![n],
                None => crate::preflight::online_nodes(&app.conn).await?,
            };
            let mut docs = Vec::new();
            for n in nodes {
                let list = client
                    .storages(&n, content.as_deref())
                    .await
                    .map_err(|e| pve_err(&format!("cannot list the storages of {n}"), e))?;
                for s in list {
                    docs.push(json!({
                        "node": n,
                        "storage": s.storage,
                        "type": s.kind,
                        "content": s.content,
                        "shared": s.shared.unwrap_or(false),
                        "active": s.active.unwrap_or(false),
                        "total": s.total.map(output::bytes),
                        "used": s.used.map(output::bytes),
                        "avail": s.avail.map(output::bytes),
                    }));
                }
            }
            emit(
                docs,
                &format,
                &[
                    "NODE", "NAME", "TYPE", "CONTENT", "SHARED", "TOTAL", "USED", "AVAIL",
                ],
                &[
                    "node", "storage", "type", "content", "shared", "total", "used", "avail",
                ],
                "storage",
            )
        }
        StorageCommand::Content {
            storage,
            node,
            content,
            format,
        } => {
            let node = match node {
                Some(n) => n,
                None => crate::preflight::online_nodes(&app.conn)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("no online node"))?,
            };
            let mut items = client
                .storage_content(&node, &storage, content.as_deref(), None)
                .await
                .map_err(|e| pve_err(&format!("cannot list {storage} on {node}"), e))?;
            items.sort_by(|a, b| a.volid.cmp(&b.volid));
            let docs = items
                .iter()
                .map(|c| {
                    json!({
                        "volid": c.volid,
                        "content": c.content,
                        "format": c.format,
                        "size": c.size.map(output::bytes),
                        "vmid": c.vmid,
                    })
                })
                .collect();
            emit(
                docs,
                &format,
                &["VOLID", "CONTENT", "FORMAT", "SIZE", "VMID"],
                &["volid", "content", "format", "size", "vmid"],
                "volid",
            )
        }
    }
}

/// Run `version`.
pub async fn version(app: &App, args: &VersionArgs) -> anyhow::Result<()> {
    let v = app
        .conn
        .client
        .version()
        .await
        .map_err(|e| pve_err(&format!("cannot reach context {:?}", app.conn.context), e))?;
    let doc = json!({
        "client": env!("CARGO_PKG_VERSION"),
        "server": v.version,
        "release": v.release,
        "repoid": v.repoid,
        "context": app.conn.context,
        "user": app.conn.principal,
    });
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => output::print_value(&doc, args.output)?,
        _ => {
            outln!("Client Version: pvectl {}", env!("CARGO_PKG_VERSION"));
            outln!(
                "Server Version: Proxmox VE {} (release {})",
                v.version,
                v.release
            );
            outln!("Context: {} as {}", app.conn.context, app.conn.principal);
        }
    }
    Ok(())
}
