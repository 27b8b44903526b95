//! The full operator: the `kubepve run` binary against a real Kubernetes API server (the one
//! the `real_apiserver` suites use: `KUBEBUILDER_ASSETS` or `KUBEPVE_TEST_KUBECONFIG`, see
//! `tests/support/apiserver.rs`) and fakepve. N ProxmoxVMs are applied, the bench waits until
//! all are Ready, then counts the steady state; Proxmox calls come from the operator's own
//! `/metrics`, memory and CPU time from `/proc/<pid>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams};
use kubepve_api::{ProxmoxConnection, ProxmoxVM};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::inprocess::{Profile, guest_object, start_pve};
use crate::measure;
use crate::support::apiserver::{TestEnv, apply};

/// What one run of the real operator measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperatorRun {
    /// Number of guests.
    pub guests: usize,
    /// Whether every object became Ready within the timeout.
    pub converged: bool,
    /// Seconds from the first apply to every object Ready.
    pub converge_secs: f64,
    /// Proxmox requests by operation until then.
    pub converge_calls: BTreeMap<String, u64>,
    /// Poll intervals the steady state was measured over.
    pub steady_intervals: u32,
    /// Proxmox requests by operation during the steady state.
    pub steady_calls: BTreeMap<String, u64>,
    /// Peak RSS of the operator process, MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds of the operator process.
    pub cpu_secs: f64,
}

/// The operator runs for each size, or `None` (after printing SKIPPED) without an API server.
pub async fn run(
    bin: &Path,
    sizes: &[usize],
    poll_secs: u32,
    steady_intervals: u32,
    timeout: Duration,
) -> Option<Vec<OperatorRun>> {
    let env = TestEnv::start("bench: kubepve run against a real API server").await?;
    env.install_crds().await;
    let mut runs = Vec::new();
    for &guests in sizes {
        runs.push(one(&env, bin, guests, poll_secs, steady_intervals, timeout).await);
    }
    Some(runs)
}

async fn one(
    env: &TestEnv,
    bin: &Path,
    guests: usize,
    poll_secs: u32,
    steady_intervals: u32,
    timeout: Duration,
) -> OperatorRun {
    let client = env.client.clone();
    let ns = format!("kubepve-bench-{}-{guests}", std::process::id());
    apply(
        &Api::<Namespace>::all(client.clone()),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
    let (pve, token) = start_pve(Profile::Instant).await;
    apply(
        &Api::<Secret>::namespaced(client.clone(), &ns),
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pve-credentials"},
            "stringData": {"tokenId": token.id, "tokenSecret": token.secret},
        }),
    )
    .await;
    apply(
        &Api::<ProxmoxConnection>::namespaced(client.clone(), &ns),
        json!({
            "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
            "metadata": {"name": "pve"},
            "spec": {
                "endpoint": pve.url(),
                "credentialsSecretRef": {"name": "pve-credentials"},
                "tls": {"caBundle": pve.ca_pem()},
                "limits": {"pollIntervalSeconds": poll_secs},
            },
        }),
    )
    .await;
    let probe = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port");
    let operator = Operator(
        Command::new(bin)
            .args([
                "run",
                "--namespace",
                &ns,
                "--backup-namespace",
                &ns,
                "--probe-addr",
                &probe.to_string(),
            ])
            .env("KUBECONFIG", &env.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display())),
    );
    let pid = operator.0.id().to_string();

    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    futures::stream::iter((0..guests).map(|i| apply(&vms, guest_object(i, "pve", &ns))))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let converged = wait_ready(&vms, guests, timeout).await;
    let converge_secs = started.elapsed().as_secs_f64();
    let converge_calls = scrape(probe).await;
    tokio::time::sleep(Duration::from_secs(u64::from(poll_secs))).await;
    let before = scrape(probe).await;
    tokio::time::sleep(Duration::from_secs(u64::from(poll_secs * steady_intervals))).await;
    let after = scrape(probe).await;
    let run = OperatorRun {
        guests,
        converged,
        converge_secs,
        converge_calls,
        steady_intervals,
        steady_calls: measure::delta(&after, &before),
        peak_rss_mib: measure::peak_rss_mib(&pid).unwrap_or_default(),
        cpu_secs: measure::cpu_secs(&pid).unwrap_or_default(),
    };
    // Clean up while the operator still runs, so the finalizers are released.
    let _ = vms
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline
        && vms
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| !l.items.is_empty())
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The connection's finalizer is the operator's to release.
    crate::support::apiserver::delete_connections(&client, &ns).await;
    drop(operator);
    let _ = Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await;
    pve.stop().await;
    run
}

/// The operator process, killed when dropped.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `guests` objects are Ready for their generation; false after `timeout`.
async fn wait_ready(vms: &Api<ProxmoxVM>, guests: usize, timeout: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(list) = vms.list(&ListParams::default()).await {
            let ready = list
                .items
                .iter()
                .filter(|vm| {
                    vm.status.as_ref().is_some_and(|s| {
                        s.conditions.iter().any(|c| {
                            c.type_ == "Ready"
                                && c.status == "True"
                                && c.observed_generation == vm.metadata.generation
                        })
                    })
                })
                .count();
            if ready >= guests {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// The operator's Proxmox requests by operation, from its `/metrics`.
async fn scrape(addr: std::net::SocketAddr) -> BTreeMap<String, u64> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the operator's probe port answers");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request /metrics");
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .await
        .expect("read /metrics");
    measure::pve_requests(&text)
}

/// The `kubepve` binary: `$KUBEPVE_BIN`, else next to this bench's folder (`target/<profile>`).
pub fn default_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KUBEPVE_BIN") {
        return PathBuf::from(bin);
    }
    sibling_bin("kubepve")
}

/// A binary of this workspace built with the same profile as the bench (`target/<profile>/NAME`).
pub fn sibling_bin(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}
