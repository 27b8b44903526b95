//! `kubepve`, the operator binary: `kubepve run` runs the controllers, `kubepve crd` prints (or
//! writes) the CustomResourceDefinitions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Kubernetes operator for Proxmox VE guests.
#[derive(Parser, Debug)]
#[command(name = "kubepve", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers (in the cluster, or against the current kubeconfig context).
    Run(Box<RunArgs>),
    /// Print every CRD as multi-document YAML, or write one file per CRD with --out-dir.
    Crd {
        /// Write `<plural>.kubepve.io.yaml` files into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// The flags of `kubepve run`.
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Watch only this namespace; all namespaces when unset.
    #[arg(long, env = "KUBEPVE_NAMESPACE")]
    namespace: Option<String>,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "KUBEPVE_PROBE_ADDR", default_value = "0.0.0.0:8080")]
    probe_addr: SocketAddr,
    /// Take a Lease before reconciling, so that several replicas are safe.
    #[arg(long, env = "KUBEPVE_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease (the pod's namespace in a cluster).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kubepve-system")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "kubepve-leader")]
    lease_name: String,
    /// Seconds between polls of a running Proxmox task.
    #[arg(long, default_value_t = 2)]
    task_poll_seconds: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "KUBEPVE_LOG_JSON")]
    log_json: bool,
    /// Namespace of the configuration backup ConfigMaps: one that outlives the guests'
    /// namespaces, the operator's own (default: POD_NAMESPACE, else the namespace of the
    /// pod's service account; required outside a cluster).
    #[arg(long, env = "KUBEPVE_BACKUP_NAMESPACE")]
    backup_namespace: Option<String>,
    /// Configuration backups kept per guest object (ConfigMap
    /// `kubepve-backup-<kind>-<namespace>.<name>` in the backup namespace).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    backup_keep: u16,
    /// How long a guest's backup ConfigMap is kept after its last backup, also after the
    /// object is deleted (`7d`, `36h`, `90m`).
    #[arg(long, default_value = "7d", value_parser = kubepve::guest::backup::parse_retention)]
    backup_retention: Duration,
    /// Every managed guest's config and pending changes are read again within this
    /// interval (`10m`, `90s`, `1h`), jittered, to find changes `/cluster/resources` does
    /// not show (pending values, bridges, disk options).
    #[arg(long, env = "KUBEPVE_FULL_RESYNC_INTERVAL", default_value = "10m",
          value_parser = kubepve::proxmox::resync::parse_interval)]
    full_resync_interval: Duration,
    /// Most full-resync reads (config plus pending changes of one guest) per second per
    /// Proxmox connection; also paces a restarted operator's first reads.
    #[arg(long, env = "KUBEPVE_FULL_RESYNC_READS_PER_SECOND", default_value = "1",
          value_parser = kubepve::proxmox::resync::parse_rate)]
    full_resync_reads_per_second: f64,
    /// Most reconciles each controller runs at once (guests, connections, snapshots, ...).
    /// More does not make Proxmox faster: its work is bounded per connection.
    #[arg(long, env = "KUBEPVE_CONCURRENT_RECONCILES",
          default_value_t = kubepve::context::CONCURRENT_RECONCILES,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    concurrent_reconciles: u16,
    /// The pod's name (the downward API sets `POD_NAME`): the leader lease's holder
    /// identity and the reporting instance of Events.
    #[arg(long, env = "POD_NAME", hide = true)]
    pod_name: Option<String>,
    /// The pod's namespace (the downward API sets `POD_NAMESPACE`), where configuration
    /// backups go unless --backup-namespace says otherwise.
    #[arg(long, env = "POD_NAMESPACE", hide = true)]
    pod_namespace: Option<String>,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let RunArgs {
                namespace,
                probe_addr,
                leader_elect,
                lease_namespace,
                lease_name,
                task_poll_seconds,
                log_json,
                backup_namespace,
                backup_keep,
                backup_retention,
                full_resync_interval,
                full_resync_reads_per_second,
                concurrent_reconciles,
                pod_name,
                pod_namespace,
            } = *args;
            init_logging(log_json);
            let backup_namespace = backup_namespace_or_own(backup_namespace, pod_namespace)?;
            let settings = kubepve::context::Settings {
                task_poll: Duration::from_secs(task_poll_seconds.max(1)),
                full_resync: kubepve::proxmox::resync::ResyncSettings {
                    interval: full_resync_interval,
                    reads_per_second: full_resync_reads_per_second,
                },
                concurrency: concurrent_reconciles,
                ..Default::default()
            };
            let options = kubepve::run::Options {
                namespace,
                probe_addr,
                leader_election: leader_elect,
                lease_namespace,
                lease_name,
                settings,
                backups: kubepve::guest::backup::BackupSettings {
                    namespace: backup_namespace,
                    keep: usize::from(backup_keep),
                    retention: backup_retention,
                },
                pod_name,
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(kubepve::run::run(options))?;
        }
        Command::Crd { out_dir: None } => {
            print!("{}", kubepve_api::crds::all_to_yaml()?);
        }
        Command::Crd { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in kubepve_api::crds::all()? {
                let path = dir.join(kubepve_api::crds::file_name(&crd));
                std::fs::write(&path, kubepve_api::crds::to_yaml(&crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Where a pod's service account token and namespace are mounted.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The backup namespace asked for, else the operator's own: POD_NAMESPACE (the downward API in
/// the chart and the kustomize manifest), else the service account's namespace file.
fn backup_namespace_or_own(
    asked: Option<String>,
    pod_namespace: Option<String>,
) -> anyhow::Result<String> {
    let own = || {
        pod_namespace.or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .map(|s| s.trim().to_string())
        })
    };
    asked.or_else(own).filter(|ns| !ns.is_empty()).context(
        "cannot tell where to keep configuration backups: outside a cluster, set \
             --backup-namespace (or KUBEPVE_BACKUP_NAMESPACE) to a namespace that outlives the \
             guests' namespaces, such as the operator's own",
    )
}

/// Structured logs to stderr; `RUST_LOG` filters (default `info`).
fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
