//! `kubepve run`: starts the metrics and health endpoint, takes the leader lease (when asked),
//! runs the controllers while leading, and shuts down gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use kubepve_api::ProxmoxConnection;
use tokio::sync::watch;

use crate::connection::{self, ConnectionContext};
use crate::context::{Context, Settings};
use crate::controller::{log_outcome, scoped_api, trimmed};
use crate::guest::{self, GuestContext};
use crate::metrics::Metrics;
use crate::server::{Probe, serve};

/// How `kubepve run` was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch only this namespace (all namespaces when `None`).
    pub namespace: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub probe_addr: SocketAddr,
    /// Take a Lease before reconciling, so several replicas are safe.
    pub leader_election: bool,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// Timings.
    pub settings: Settings,
    /// Configuration backups: how many, how long.
    pub backups: guest::backup::BackupSettings,
    /// The pod this process runs in (`POD_NAME`): the lease holder's identity and the
    /// reporting instance of Events.
    pub pod_name: Option<String>,
}

/// How often expired configuration backups are looked for.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs the operator until a shutdown signal (or the loss of the lease).
pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let metrics = Metrics::new();
    let probe = Probe::new(metrics.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(signal_stop(stop_tx));
    let server = tokio::spawn(serve(
        probe.clone(),
        options.probe_addr,
        stopped(stop_rx.clone()),
    ));

    let ctx = Arc::new(Context::reporting_as(
        client.clone(),
        metrics,
        options.settings.clone(),
        options.pod_name.clone(),
    ));
    let outcome = if options.leader_election {
        lead_then_run(client, ctx, &options, probe, stop_rx).await
    } else {
        probe.set_ready(true);
        let backups = options.backups.clone();
        controllers(ctx, backups, options.namespace.clone(), stopped(stop_rx)).await;
        Ok(())
    };
    server.abort();
    outcome
}

async fn lead_then_run(
    client: Client,
    ctx: Arc<Context>,
    options: &Options,
    probe: Probe,
    mut stop_rx: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let identity = options
        .pod_name
        .clone()
        .unwrap_or_else(|| format!("kubepve-{}", std::process::id()));
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, &options.lease_name)
        .with_namespace(&options.lease_namespace)
        .with_identity(&identity)
        .build()
        .await?;
    let (mut leading, lease_task) = manager.watch().await;
    // A standby replica is healthy and ready; it just does not reconcile.
    probe.set_ready(true);
    tracing::info!(%identity, lease = %options.lease_name, "waiting for the leader lease");
    loop {
        if *leading.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leading.changed() => changed?,
            _ = stop_rx.changed() => { drop(leading); let _ = lease_task.await; return Ok(()); }
        }
    }
    tracing::info!(%identity, "leading: starting controllers");
    let mut lost = leading.clone();
    let lost_lease = async move {
        while lost.changed().await.is_ok() {
            if !*lost.borrow() {
                return;
            }
        }
    };
    let (done_tx, done_rx) = watch::channel(false);
    let backups = options.backups.clone();
    let run = controllers(ctx, backups, options.namespace.clone(), stopped(done_rx));
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => {}
        () = lost_lease => {
            let _ = done_tx.send(true);
            run.await;
            anyhow::bail!("lost the leader lease; exiting so that a fresh process can compete again");
        }
        _ = stop_rx.changed() => { let _ = done_tx.send(true); run.await; }
    }
    drop(leading);
    let _ = lease_task.await;
    Ok(())
}

/// Runs the controllers (connections, guests, snapshots, schedules, restores, VM sets) and the
/// pruner of expired configuration backups (kept as `backups` says) until `shutdown` resolves.
/// Each controller gets its own context beside the shared `shared`.
pub async fn controllers(
    shared: Arc<Context>,
    backups: guest::backup::BackupSettings,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let client = shared.client.clone();
    let ctx = Arc::new(GuestContext::new(shared.clone(), backups));
    let connections: Api<ProxmoxConnection> = scoped_api(&client, &namespace);
    let connection_controller = trimmed(connections, shared.settings.concurrency)
        .graceful_shutdown_on(shutdown.clone())
        .run(
            connection::reconcile,
            connection_error_policy,
            Arc::new(ConnectionContext::new(shared)),
        )
        .for_each(|outcome| async move { log_outcome("ProxmoxConnection", outcome) });
    let vms = guest::controller::<kubepve_api::ProxmoxVM>(
        ctx.clone(),
        namespace.clone(),
        shutdown.clone(),
    );
    // Backups live in the operator's namespace only, whichever namespaces are watched.
    let pruner = guest::backup::pruner(
        client.clone(),
        Some(ctx.backups.namespace.clone()),
        PRUNE_EVERY,
        shutdown.clone(),
    );
    let snapshots = crate::snapshot::controller(ctx.clone(), namespace.clone(), shutdown.clone());
    let schedules = crate::schedule::controller(ctx.clone(), namespace.clone(), shutdown.clone());
    let restores =
        crate::snapshot::restore_controller(ctx.clone(), namespace.clone(), shutdown.clone());
    let vmsets = crate::vmset::controller(ctx.clone(), namespace.clone(), shutdown.clone());
    let cts = guest::controller::<kubepve_api::ProxmoxContainer>(ctx, namespace, shutdown);
    futures::join!(
        connection_controller,
        vms,
        cts,
        pruner,
        snapshots,
        schedules,
        restores,
        vmsets
    );
}

fn connection_error_policy(
    conn: Arc<ProxmoxConnection>,
    error: &connection::ConnectionError,
    ctx: Arc<ConnectionContext>,
) -> Action {
    tracing::warn!(connection = %conn.name_any(), %error, "reconcile failed");
    ctx.metrics.failed("ProxmoxConnection", "Kube");
    Action::requeue(ctx.settings.connection_retry)
}

async fn signal_stop(stop: watch::Sender<bool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
    let _ = stop.send(true);
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}
