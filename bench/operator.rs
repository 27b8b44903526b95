//! The full operator: the `kubepve run` binary against a Kubernetes API and fakepve, as the issue
//! measures it: N ProxmoxVMs are created first, then the operator is started, and the bench
//! times until every object is Ready, then counts the steady state; Proxmox calls come from the
//! operator's own `/metrics`, memory and CPU time from `/proc/<pid>`.
//!
//! Two APIs: a real API server (the one the `real_apiserver` suites use: `KUBEBUILDER_ASSETS` or
//! `KUBEPVE_TEST_KUBECONFIG`, see `tests/support/apiserver.rs`), and the fake Kubernetes API of
//! the tests served over HTTP on loopback (`tests/support/fakekube/`), which runs everywhere:
//! the operator is the shipped binary either way, with its own process, caches and serialization.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use kubepve_api::{ProxmoxConnection, ProxmoxVM};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::inprocess::{Profile, guest_object, start_pve};
use crate::measure;
use crate::support::apiserver::{TestEnv, apply};
use crate::support::fakekube::FakeKube;

/// What one run of the real operator measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperatorRun {
    /// Number of guests.
    pub guests: usize,
    /// Whether every object became Ready within the timeout.
    pub converged: bool,
    /// Seconds from the operator's start to every object Ready.
    pub converge_secs: f64,
    /// Proxmox requests by operation until then.
    pub converge_calls: BTreeMap<String, u64>,
    /// Poll intervals the steady state was measured over.
    pub steady_intervals: u32,
    /// Proxmox requests by operation during the steady state.
    pub steady_calls: BTreeMap<String, u64>,
    /// Peak RSS of the operator process, MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds of the operator process until every object was Ready.
    pub converge_cpu_secs: f64,
    /// CPU seconds of the operator process.
    pub cpu_secs: f64,
    /// CPU seconds fakepve (one Python process) spent until every object was Ready.
    #[serde(default)]
    pub fakepve_cpu_secs: f64,
    /// CPU seconds the bench process (which serves the fake Kubernetes API, when that is the
    /// API) spent in the same time.
    #[serde(default)]
    pub bench_cpu_secs: f64,
}

/// What the operator runs against.
struct Target {
    /// For file names: `apiserver` or `fakeapi`.
    name: &'static str,
    client: Client,
    kubeconfig: PathBuf,
}

/// Options of the operator runs.
pub struct Options<'a> {
    /// The `kubepve` binary.
    pub bin: &'a Path,
    /// Guest counts.
    pub sizes: &'a [usize],
    /// The connection's poll interval, seconds.
    pub poll_secs: u32,
    /// Poll intervals the steady state is measured over.
    pub steady_intervals: u32,
    /// Give up converging after this long.
    pub timeout: Duration,
}

/// The operator runs against a real API server for each size, or `None` without one.
pub async fn run(options: &Options<'_>) -> Option<Vec<OperatorRun>> {
    let env = TestEnv::start("bench: kubepve run against a real API server").await?;
    env.install_crds().await;
    let api = Target {
        name: "apiserver",
        client: env.client.clone(),
        kubeconfig: env.kubeconfig.clone(),
    };
    let mut runs = Vec::new();
    for &guests in options.sizes {
        runs.push(one(&api, options, guests).await);
    }
    Some(runs)
}

/// The operator runs against the fake Kubernetes API served over HTTP, for each size (a fresh
/// fake each, so that one run's history does not weigh on the next).
pub async fn run_on_fake(options: &Options<'_>) -> Vec<OperatorRun> {
    let mut runs = Vec::new();
    for &guests in options.sizes {
        let kube = FakeKube::new("proxmoxvms");
        let server = kube.mock.serve_http().await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig("default")).expect("write kubeconfig");
        let api = Target {
            name: "fakeapi",
            client: kube.mock.client.clone(),
            kubeconfig,
        };
        runs.push(one(&api, options, guests).await);
        drop(server);
    }
    runs
}

async fn one(api: &Target, options: &Options<'_>, guests: usize) -> OperatorRun {
    let Options {
        bin,
        poll_secs,
        steady_intervals,
        timeout,
        ..
    } = *options;
    let client = api.client.clone();
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
    // The objects first, then the operator (as the issue measures it).
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), &ns);
    futures::stream::iter((0..guests).map(|i| apply(&vms, guest_object(i, "pve", &ns))))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let probe = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port");
    // The operator's log (warnings and up) in a file, for when a run goes wrong.
    let log_path = std::env::temp_dir().join(format!("{ns}.{}.log", api.name));
    let log = std::fs::File::create(&log_path).expect("the operator's log file");
    eprintln!("  kubepve run logs to {}", log_path.display());
    let fakepve_before = crate::inprocess::fakepve_cpu(&pve);
    let bench_before = measure::cpu_secs("self").unwrap_or_default();
    let started = Instant::now();
    let mut operator = Operator(
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
            .env("KUBECONFIG", &api.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display())),
    );
    let pid = operator.0.id().to_string();
    let converged = wait_ready(&vms, guests, timeout, &mut operator).await;
    let converge_secs = started.elapsed().as_secs_f64();
    let converge_cpu_secs = measure::cpu_secs(&pid).unwrap_or_default();
    let fakepve_cpu_secs = crate::inprocess::fakepve_cpu(&pve) - fakepve_before;
    let bench_cpu_secs = measure::cpu_secs("self").unwrap_or_default() - bench_before;
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
        converge_cpu_secs,
        fakepve_cpu_secs,
        bench_cpu_secs,
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

/// Waits until `guests` objects are Ready for their generation; false after `timeout` or when
/// the operator has exited. Prints how many are Ready, and why the others are not, every 5 s.
async fn wait_ready(
    vms: &Api<ProxmoxVM>,
    guests: usize,
    timeout: Duration,
    operator: &mut Operator,
) -> bool {
    let started = Instant::now();
    let mut shown = Duration::ZERO;
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = operator.0.try_wait() {
            eprintln!("kubepve run exited with {status} before every object was Ready");
            return false;
        }
        if let Ok(list) = vms.list(&ListParams::default()).await {
            let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
            for vm in &list.items {
                let ready = vm
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
                let reason = match ready {
                    Some(c)
                        if c.status == "True"
                            && c.observed_generation == vm.metadata.generation =>
                    {
                        "Ready".to_string()
                    }
                    Some(c) => c.reason.clone(),
                    None => "no status".to_string(),
                };
                *waiting.entry(reason).or_default() += 1;
            }
            if waiting.get("Ready").copied().unwrap_or_default() >= guests {
                return true;
            }
            if started.elapsed() >= shown + Duration::from_secs(5) {
                shown = started.elapsed();
                eprintln!("  {:>5.1} s: {waiting:?}", shown.as_secs_f64());
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
