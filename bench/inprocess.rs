//! The operator's controllers (`kubepve::run::controllers`, as `kubepve run` starts them) run in
//! this process against fakepve and the fake Kubernetes API (`tests/support/fakekube/`) instead
//! of an API server: they list and watch it as they would a real one, so every status write is
//! a watch event that schedules the object again, and their reflector caches hold every object.
//! The client is built as the operator builds it (at most 8 requests in flight, metrics
//! counting every request).
//!
//! These figures are labelled "in-process operator, fake kube": no serialization across a
//! socket, and watch events [`WATCH_LAG`] behind the writes. The `kubepve run` figures come from `operator.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubepve::context::{Context, Settings};
use kubepve::metrics::Metrics;
use kubepve::proxmox::registry::Connection;
use kubepve::proxmox::resync::ResyncSettings;
use pve_client::{Auth, Client, Tls};
use pve_testkit::FakePve;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::measure;
use crate::support::fakekube::FakeKube;
use crate::support::guest_objects::ready_now;

/// The first VMID of the bench guests.
pub const FIRST_VMID: u32 = 1000;

/// How Proxmox behaves during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// fakepve time_scale 0: every task has ended when the request that started it returns.
    Instant,
    /// fakepve time_scale 1: tasks run in the background and every response takes
    /// [`REALISTIC_LATENCY`] PVE seconds, as a busy pveproxy does.
    Realistic,
}

/// How long after a write the fake Kubernetes API delivers its watch events (a local API
/// server's watch latency is a few milliseconds).
pub const WATCH_LAG: Duration = Duration::from_millis(5);

/// Seconds every fakepve response takes in the realistic profile.
pub const REALISTIC_LATENCY: f64 = 0.05;

impl Profile {
    /// Its name in figure ids.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Instant => "instant",
            Profile::Realistic => "realistic",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Proxmox profile.
    pub profile: Profile,
    /// Number of guests.
    pub guests: usize,
    /// Whether every object became Ready within the timeout.
    pub converged: bool,
    /// Seconds from the first reconcile to every object Ready.
    pub converge_secs: f64,
    /// Proxmox requests by operation until every object was Ready.
    pub converge_calls: BTreeMap<String, u64>,
    /// Guests running in Proxmox at the end, by a separate read.
    pub running: usize,
    /// The connection's poll interval in the steady state.
    pub poll_interval_secs: f64,
    /// Poll intervals the steady state was measured over.
    pub steady_intervals: u32,
    /// Proxmox requests by operation during the steady state.
    pub steady_calls: BTreeMap<String, u64>,
    /// The full-resync interval of the run (short, so that the steady state holds resyncs).
    #[serde(default)]
    pub resync_interval_secs: f64,
    /// Peak RSS of this process, MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds of this process.
    pub cpu_secs: f64,
    /// CPU seconds this process (the reconciler, the in-memory kube and the driver) spent from
    /// the first reconcile until every object was Ready.
    pub converge_cpu_secs: f64,
    /// CPU seconds fakepve (one Python process) spent in the same time.
    pub fakepve_cpu_secs: f64,
}

impl Run {
    /// Proxmox requests per converged guest (shared reads included).
    pub fn calls_per_guest(&self) -> f64 {
        measure::total(&self.converge_calls) as f64 / self.guests.max(1) as f64
    }

    /// Proxmox requests of the fast path per poll interval once converged (one connection):
    /// all but the full resync's config and pending reads.
    pub fn steady_per_interval(&self) -> f64 {
        self.steady_fast_calls() as f64 / f64::from(self.steady_intervals.max(1))
    }

    fn steady_secs(&self) -> f64 {
        self.poll_interval_secs * f64::from(self.steady_intervals.max(1))
    }

    fn steady_resync_calls(&self) -> u64 {
        RESYNC_OPS
            .iter()
            .map(|op| self.steady_calls.get(*op).copied().unwrap_or_default())
            .sum()
    }

    fn steady_fast_calls(&self) -> u64 {
        measure::total(&self.steady_calls).saturating_sub(self.steady_resync_calls())
    }

    /// Proxmox requests per minute once converged (one connection), the full resync every
    /// `resync_interval_secs` included.
    pub fn steady_per_minute(&self) -> f64 {
        measure::total(&self.steady_calls) as f64 * 60.0 / self.steady_secs()
    }

    /// The same at the operator's default full resync (10 minutes, one read a second per
    /// connection): the fast path as measured, plus the long-run resync reads of this many
    /// guests, each costing what one cost in this run.
    pub fn steady_per_minute_at_defaults(&self) -> f64 {
        let fast = self.steady_fast_calls() as f64 * 60.0 / self.steady_secs();
        let reads = self
            .steady_calls
            .get("guest_pending")
            .copied()
            .unwrap_or_default();
        let per_read = if reads > 0 {
            self.steady_resync_calls() as f64 / reads as f64
        } else {
            RESYNC_OPS.len() as f64
        };
        fast + per_read * ResyncSettings::default().long_run_reads(self.guests) * 60.0
    }
}

/// The operations of one full read of a guest (config, then pending changes).
pub const RESYNC_OPS: [&str; 2] = ["guest_config", "guest_pending"];

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Proxmox profile.
    pub profile: Profile,
    /// Number of guests.
    pub guests: usize,
    /// The connection's poll interval (`limits.pollIntervalSeconds`).
    pub poll_interval: Duration,
    /// Poll intervals to measure the steady state over.
    pub steady_intervals: u32,
    /// Give up converging after this long.
    pub timeout: Duration,
    /// The full resync (the operator's default rate limit, one read a second, unless a test
    /// says otherwise).
    pub resync: ResyncSettings,
}

/// A blank VM with one disk and one NIC that should be created and started.
pub fn guest_object(index: usize, connection: &str, namespace: &str) -> Value {
    let name = format!("bench-{index:04}");
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "connectionRef": {"name": connection},
            "node": "pve1",
            "vmid": FIRST_VMID as usize + index,
            "name": name,
            "source": {"blank": {}},
            "cpu": {"cores": 1},
            "memory": "512Mi",
            "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "4Gi"}],
            "networks": [{"slot": "net0", "bridge": "vmbr0"}],
            "ostype": "l26",
            "runStrategy": "Always",
        },
    })
}

/// Starts fakepve for `profile` and returns it with an API token.
pub async fn start_pve(profile: Profile) -> (FakePve, pve_testkit::Token) {
    let scale = match profile {
        Profile::Instant => 0.0,
        Profile::Realistic => 1.0,
    };
    let pve = FakePve::builder().time_scale(scale).start().await;
    if profile == Profile::Realistic {
        pve.slow_network(REALISTIC_LATENCY).await;
    }
    let token = pve.create_token("root@pam", "bench").await;
    (pve, token)
}

/// A client for `pve` with `token`, built as the operator builds one, counting into `metrics`.
pub fn client(pve: &FakePve, token: &pve_testkit::Token, metrics: Option<Metrics>) -> Client {
    let mut builder = Client::builder(
        pve.url(),
        Auth::token(token.id.clone(), token.secret.clone()),
    )
    .tls(Tls::CaBundle(pve.ca_pem().to_string()))
    .max_in_flight(pve_client::DEFAULT_MAX_IN_FLIGHT);
    if let Some(metrics) = metrics {
        builder = builder.metrics(Arc::new(metrics));
    }
    builder.build().expect("a client for fakepve")
}

/// Runs one convergence and steady-state measurement.
pub async fn run(options: &Options) -> Run {
    let (pve, token) = start_pve(options.profile).await;
    let metrics = Metrics::new();
    let kube = Arc::new(FakeKube::new("proxmoxvms"));
    // A real API server's watch events trail the answers to the writes: the operator's caches
    // are a little behind its own writes, as they are in a cluster.
    kube.lag_watches(WATCH_LAG);
    let settings = Settings {
        full_resync: options.resync,
        ..Settings::default()
    };
    let shared = Arc::new(Context::new(
        kube.mock.client.clone(),
        metrics.clone(),
        settings,
    ));
    let conn = Connection::new(
        client(&pve, &token, Some(metrics.clone())),
        options.poll_interval,
        "bench".into(),
    );
    shared
        .connections
        .set(("default".into(), "pve".into()), Ok(Arc::new(conn)));
    let names: Vec<String> = (0..options.guests)
        .map(|i| {
            let object = guest_object(i, "pve", "default");
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            kube.put(object);
            name
        })
        .collect();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cpu_before = measure::cpu_secs("self").unwrap_or_default();
    let fakepve_before = fakepve_cpu(&pve);
    let started = Instant::now();
    // The operator's own namespace, where it keeps configuration backups, exists as in a
    // cluster; the defaults keep them there for the default retention.
    let backups = kubepve::guest::backup::BackupSettings::default();
    kube.create_namespace(&backups.namespace);
    let operator = tokio::spawn(kubepve::run::controllers(
        shared.clone(),
        backups,
        None,
        async {
            let _ = stop_rx.await;
        },
    ));
    let converged = wait_ready(&kube, names.len(), options.timeout).await;
    let converge_secs = started.elapsed().as_secs_f64();
    let converge_calls = measure::pve_requests(&metrics.encode());
    let converge_cpu_secs = measure::cpu_secs("self").unwrap_or_default() - cpu_before;
    let fakepve_cpu_secs = fakepve_cpu(&pve) - fakepve_before;

    // Steady state: let what is still in flight settle for one interval, then count.
    tokio::time::sleep(options.poll_interval).await;
    let before = measure::pve_requests(&metrics.encode());
    tokio::time::sleep(options.poll_interval * options.steady_intervals).await;
    let after = measure::pve_requests(&metrics.encode());
    let _ = stop_tx.send(());
    let _ = operator.await;
    let running = running_guests(&pve, &token, options.guests).await;
    let result = Run {
        profile: options.profile,
        guests: options.guests,
        converged,
        converge_secs,
        converge_calls,
        running,
        poll_interval_secs: options.poll_interval.as_secs_f64(),
        steady_intervals: options.steady_intervals,
        steady_calls: measure::delta(&after, &before),
        resync_interval_secs: options.resync.interval.as_secs_f64(),
        peak_rss_mib: measure::peak_rss_mib("self").unwrap_or_default(),
        cpu_secs: measure::cpu_secs("self").unwrap_or_default(),
        converge_cpu_secs,
        fakepve_cpu_secs,
    };
    pve.stop().await;
    result
}

/// CPU seconds the fakepve process used so far.
pub fn fakepve_cpu(pve: &FakePve) -> f64 {
    pve.pid()
        .and_then(|pid| measure::cpu_secs(&pid.to_string()))
        .unwrap_or_default()
}

/// Waits until `guests` objects are Ready for their generation; false after `timeout`.
async fn wait_ready(kube: &FakeKube, guests: usize, timeout: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let ready = kube
            .list("proxmoxvms", None)
            .iter()
            .filter(|o| ready_now(Some(o)))
            .count();
        if ready >= guests {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// How many of the bench guests Proxmox shows running, by a read of a client of its own.
pub async fn running_guests(pve: &FakePve, token: &pve_testkit::Token, guests: usize) -> usize {
    let range = u64::from(FIRST_VMID)..u64::from(FIRST_VMID) + guests as u64;
    client(pve, token, None)
        .cluster_resources(None)
        .await
        .map(|items| {
            items
                .iter()
                .filter(|r| r.is_guest() && r.vmid.is_some_and(|v| range.contains(&v)))
                .filter(|r| r.status.as_deref() == Some("running"))
                .count()
        })
        .unwrap_or_default()
}
