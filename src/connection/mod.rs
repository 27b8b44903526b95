//! The `ProxmoxConnection` controller: builds (and rebuilds when the spec or the Secret changes)
//! one Proxmox client per connection, checks that Proxmox answers and accepts the credentials,
//! and reports version, nodes and errors in status. Guests read the result from the registry.
//! Its finalizer keeps a connection (and the last usable client in the registry) while guest
//! objects that refer to it exist, so that deleting a namespace, which deletes everything in
//! it in no particular order, can still destroy the guests.
//!
//! Status is written only when something in it changed, or every [`LIVENESS`] to move
//! `lastCheckedTime`: every write moves the object's resourceVersion, which every watcher
//! (ArgoCD, Flux, `kubectl get -w`, this controller) sees as a change. A failure that cannot fix
//! itself (a pin mismatch, an unknown CA, refused credentials) is tried once per reconcile and
//! retried with a growing backoff.

pub mod credentials;
mod users;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kubepve_api::{NodeInfo, ProxmoxConnection, ProxmoxConnectionStatus};

use crate::conditions::{Health, now};
use crate::context::Context;
use crate::memory::Backoff;
use crate::proxmox::registry::{Connection, ConnectionKey, Policy, Unavailable};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// How often an unchanged status is written anyway, so that `lastCheckedTime` shows that the
/// operator still checks the connection.
pub const LIVENESS: Duration = Duration::from_secs(300);

/// Condition reasons that need the user to change something (kstatus Stalled).
const STALLED_REASONS: [&str; 6] = [
    "SecretNotFound",
    "InvalidCredentials",
    "AuthenticationFailed",
    "PermissionDenied",
    "InvalidSettings",
    "TlsRejected",
];

/// What can go wrong talking to the Kubernetes API while reconciling a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Reading the Secret or writing status failed.
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
}

/// The connection controller's own state beside the shared context.
#[derive(Clone)]
pub struct ConnectionContext {
    /// What every controller shares (the registry this controller fills among it).
    pub shared: Arc<Context>,
    /// Backoff of connections whose failure needs the user (pin mismatch, bad credentials).
    pub backoff: Backoff,
}

impl ConnectionContext {
    /// A connection context over `shared` that remembers no failures yet.
    pub fn new(shared: Arc<Context>) -> Self {
        Self {
            shared,
            backoff: Backoff::default(),
        }
    }
}

/// The shared context's fields and methods read through.
impl std::ops::Deref for ConnectionContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.shared
    }
}

/// Reconciles one `ProxmoxConnection`.
#[tracing::instrument(skip_all, fields(connection = %conn.name_any(), namespace = conn.namespace().unwrap_or_default()))]
pub async fn reconcile(
    conn: Arc<ProxmoxConnection>,
    ctx: Arc<ConnectionContext>,
) -> Result<Action, ConnectionError> {
    if ctx.writes.behind(&*conn) {
        return Ok(Action::requeue(crate::writes::CATCH_UP));
    }
    let started = std::time::Instant::now();
    let ns = conn.namespace().unwrap_or_default();
    let key: ConnectionKey = (ns.clone(), conn.name_any());
    let poll = Duration::from_secs(
        u64::try_from(conn.spec.limits.poll_interval_seconds.max(5)).unwrap_or(30),
    );
    let deleting = conn.metadata.deletion_timestamp.is_some();
    if !deleting {
        crate::finalizer::add(&ctx.client, &ctx.writes, &*conn).await?;
    } else if !crate::finalizer::has(&*conn) {
        return Ok(Action::await_change());
    } else {
        let users = users::guests_using(&ctx.client, &key).await?;
        if users.is_empty() {
            crate::finalizer::remove(&ctx.client, &ctx.writes, &*conn).await?;
            ctx.connections.remove(&key);
            return Ok(Action::await_change());
        }
        tracing::info!(
            guests = ?users,
            "connection is being deleted: kept until the guest objects that use it are gone"
        );
    }

    let (status, health) = match connect(&conn, &ctx, &key, poll).await? {
        Ok((connection, status)) => {
            ctx.connections.set(key, Ok(connection));
            let version = status.version.clone().unwrap_or_default();
            (
                status,
                Health::Ready {
                    reason: "Connected".into(),
                    message: format!("Proxmox VE {version} answers"),
                },
            )
        }
        Err(problem) => {
            ctx.connections.set(key, Err(problem.clone()));
            let status = ProxmoxConnectionStatus {
                reachable: Some(false),
                last_error: Some(problem.message.clone()),
                ..ProxmoxConnectionStatus::default()
            };
            let health = if STALLED_REASONS.contains(&problem.reason.as_str()) {
                Health::Stalled {
                    reason: problem.reason,
                    message: problem.message,
                }
            } else {
                Health::Progressing {
                    reason: problem.reason,
                    message: problem.message,
                }
            };
            (status, health)
        }
    };
    write_status(&conn, &ctx, status, &health).await?;
    ctx.metrics
        .reconciled("ProxmoxConnection", started.elapsed());
    let backoff_key = format!("{}/{}", ns, conn.name_any());
    Ok(match health {
        // Nothing tells this controller when the last guest goes: look again soon.
        _ if deleting => Action::requeue(ctx.settings.connection_retry.min(poll)),
        Health::Ready { .. } => {
            ctx.backoff.reset(&backoff_key);
            Action::requeue(poll)
        }
        // Waiting does not fix it: back off up to the longest backoff.
        Health::Stalled { .. } => Action::requeue(ctx.backoff.next(
            &backoff_key,
            (ctx.settings.connection_retry, ctx.settings.backoff.1),
        )),
        Health::Progressing { .. } => Action::requeue(ctx.settings.connection_retry),
    })
}

/// Builds or reuses the client and checks it; the inner error is what users see.
async fn connect(
    conn: &ProxmoxConnection,
    ctx: &Context,
    key: &ConnectionKey,
    poll: Duration,
) -> Result<Result<(Arc<Connection>, ProxmoxConnectionStatus), Unavailable>, ConnectionError> {
    let secret_name = &conn.spec.credentials_secret_ref.name;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &key.0);
    let Some(secret) = secrets.get_opt(secret_name).await? else {
        return Ok(Err(Unavailable {
            reason: "SecretNotFound".into(),
            message: format!("secret {secret_name} not found in namespace {}", key.0),
        }));
    };
    let fingerprint = format!(
        "{}/{}",
        conn.metadata.generation.unwrap_or_default(),
        secret.resource_version().unwrap_or_default()
    );
    let existing = ctx.connections.get(key).and_then(Result::ok);
    let connection = match existing {
        Some(existing) if existing.fingerprint == fingerprint => existing,
        _ => match build(conn, &secret, ctx, poll, fingerprint) {
            Ok(connection) => match existing {
                Some(old) => Arc::new(connection.taking_over(&old)),
                None => Arc::new(connection),
            },
            Err(problem) => return Ok(Err(problem)),
        },
    };
    let version = match connection.pve.version().await {
        Ok(version) => version,
        Err(error) => return Ok(Err(unavailable(&error))),
    };
    let nodes = match connection.resources_fresh_enough().await {
        Ok(snapshot) => snapshot
            .nodes()
            .map(|n| NodeInfo {
                name: n.node.clone().unwrap_or_default(),
                status: n.status.clone().unwrap_or_else(|| "unknown".into()),
            })
            .collect(),
        Err(error) => return Ok(Err(unavailable(&error))),
    };
    let status = ProxmoxConnectionStatus {
        reachable: Some(true),
        version: Some(version.version.clone()),
        nodes,
        ..ProxmoxConnectionStatus::default()
    };
    Ok(Ok((connection, status)))
}

fn build(
    conn: &ProxmoxConnection,
    secret: &Secret,
    ctx: &Context,
    poll: Duration,
    fingerprint: String,
) -> Result<Connection, Unavailable> {
    let auth = credentials::auth_from_secret(secret).map_err(|e| Unavailable {
        reason: "InvalidCredentials".into(),
        message: e.to_string(),
    })?;
    let pve = pve_client::Client::builder(conn.spec.endpoint.trim_end_matches('/'), auth)
        .tls(credentials::tls_from_spec(&conn.spec))
        .timeout(credentials::request_timeout(&conn.spec))
        .max_in_flight(usize::try_from(conn.spec.limits.max_in_flight.max(1)).unwrap_or(8))
        .user_agent(concat!("kubepve/", env!("CARGO_PKG_VERSION")))
        .metrics(Arc::new(ctx.metrics.clone()))
        .build()
        .map_err(|e| Unavailable {
            reason: "InvalidSettings".into(),
            message: e.to_string(),
        })?;
    Ok(Connection::new(pve, poll, fingerprint).with_policy(Policy::from_spec(&conn.spec)))
}

/// Maps a client error to a condition reason and a message (client errors never carry secrets).
/// A failure that does not fix itself gets one of the Stalled reasons; any other is
/// `Unreachable` (in progress: retried soon).
pub fn unavailable(error: &pve_client::Error) -> Unavailable {
    let reason = match error.kind() {
        _ if !error.is_permanent() => "Unreachable",
        "auth" => "AuthenticationFailed",
        "permission" => "PermissionDenied",
        "tls_rejected" => "TlsRejected",
        _ => "InvalidSettings",
    };
    Unavailable {
        reason: reason.into(),
        message: error_chain(error),
    }
}

/// An error and its sources on one line (TLS failures hide their cause in the chain).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn write_status(
    conn: &ProxmoxConnection,
    ctx: &Context,
    mut status: ProxmoxConnectionStatus,
    health: &Health,
) -> Result<(), ConnectionError> {
    let existing = conn
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let now = now();
    status.observed_generation = conn.metadata.generation;
    status.conditions = health.apply(existing, conn.metadata.generation, &now);
    status.last_checked_time = Some(now.clone());
    if unchanged(conn.status.as_ref(), &status, &now) {
        return Ok(());
    }
    crate::status::write(ctx, conn, &status).await?;
    Ok(())
}

/// Whether `new` says nothing that `old` does not, and `old` was checked less than
/// [`LIVENESS`] ago.
fn unchanged(
    old: Option<&ProxmoxConnectionStatus>,
    new: &ProxmoxConnectionStatus,
    now: &Time,
) -> bool {
    let Some(old) = old else {
        return false;
    };
    let recent = old.last_checked_time.as_ref().is_some_and(|checked| {
        let age = now.0.duration_since(checked.0);
        !age.is_negative() && age.unsigned_abs() < LIVENESS
    });
    let without_time = |s: &ProxmoxConnectionStatus| ProxmoxConnectionStatus {
        last_checked_time: None,
        ..s.clone()
    };
    recent && without_time(old) == without_time(new)
}
