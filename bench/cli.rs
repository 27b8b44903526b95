//! `pvectl` at scale: `vm list` over 2000 guests and `apply -f` of a folder of 100 manifests,
//! against fakepve (tasks end at once), each run as a separate process with a config of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use pve_testkit::{FakePve, VmSeed};
use serde::{Deserialize, Serialize};

use crate::inprocess::{Profile, client, guest_object, start_pve};
use crate::support::pvectl::Pvectl;

/// Guests seeded for `vm list`.
pub const LIST_GUESTS: u32 = 2000;
/// Manifests applied.
pub const APPLY_MANIFESTS: usize = 100;
/// Runs of `vm list` (the median is reported).
const LIST_RUNS: usize = 5;
/// First VMID of the listed guests (the applied ones start at [`crate::inprocess::FIRST_VMID`]).
const LIST_FIRST_VMID: u32 = 100_000;

/// What the pvectl runs measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliRun {
    /// Proxmox requests one `vm list` made.
    pub list_calls: usize,
    /// Median wall time of `pvectl vm list`, ms.
    pub list_wall_ms: f64,
    /// Median time of the same request from a fresh client in this process (TLS handshake
    /// included), ms.
    pub list_request_ms: f64,
    /// Rows `vm list` printed (header excluded).
    pub list_rows: usize,
    /// Proxmox requests `apply -f` of the folder made.
    pub apply_calls: usize,
    /// Wall time of `pvectl apply -f`, s.
    pub apply_wall_secs: f64,
    /// Guests of the manifests running afterwards.
    pub apply_running: usize,
}

impl CliRun {
    /// CLI time beyond its one Proxmox call, ms.
    pub fn list_overhead_ms(&self) -> f64 {
        (self.list_wall_ms - self.list_request_ms).max(0.0)
    }
}

/// Runs pvectl and returns stdout and the wall time; a failure ends the bench.
fn timed(pvectl: &Pvectl, args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let out = pvectl
        .command(args)
        .output()
        .unwrap_or_else(|e| panic!("running pvectl: {e}"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "pvectl {} failed with {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), took)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Measures `vm list` and `apply` with the pvectl binary `bin`.
pub async fn run(bin: &Path) -> CliRun {
    let (pve, token) = start_pve(Profile::Instant).await;
    let pvectl = Pvectl::with_binary(bin.to_path_buf());
    let context = pvectl.context_args("bench", &pve, &token);
    timed(
        &pvectl,
        &context.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    seed(&pve, LIST_GUESTS).await;

    pve.clear_requests().await;
    let (out, _) = timed(&pvectl, &["vm", "list"]);
    let list_calls = pve.requests().await.len();
    let list_rows = out.lines().count().saturating_sub(1);
    let mut walls = Vec::new();
    for _ in 0..LIST_RUNS {
        walls.push(timed(&pvectl, &["vm", "list"]).1.as_secs_f64() * 1e3);
    }
    let mut requests = Vec::new();
    for _ in 0..LIST_RUNS {
        let fresh = client(&pve, &token, None);
        let started = Instant::now();
        fresh.guests().await.expect("listing guests");
        requests.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let manifests = pvectl.path("manifests");
    std::fs::create_dir(&manifests).expect("manifest dir");
    for i in 0..APPLY_MANIFESTS {
        let object = guest_object(i, "pve", "default");
        let yaml = serde_saphyr::to_string(&object).expect("manifest as YAML");
        std::fs::write(manifests.join(format!("vm-{i:03}.yaml")), yaml).expect("write manifest");
    }
    pve.clear_requests().await;
    let (_, apply_wall) = timed(&pvectl, &["apply", "-f", path(&manifests)]);
    let apply_calls = pve.requests().await.len();
    let apply_running = crate::inprocess::running_guests(&pve, &token, APPLY_MANIFESTS).await;
    pve.stop().await;
    CliRun {
        list_calls,
        list_wall_ms: median(walls),
        list_request_ms: median(requests),
        list_rows,
        apply_calls,
        apply_wall_secs: apply_wall.as_secs_f64(),
        apply_running,
    }
}

/// Seeds `n` running VMs, 500 per control request.
async fn seed(pve: &FakePve, n: u32) {
    let seeds: Vec<VmSeed> = (0..n)
        .map(|i| {
            VmSeed::new(LIST_FIRST_VMID + i, &format!("list-{i:04}"))
                .running()
                .config("memory", 2048)
                .config("cores", 2)
                .config(
                    "scsi0",
                    format!("local-lvm:vm-{}-disk-0,size=32G", LIST_FIRST_VMID + i),
                )
                .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0")
        })
        .collect();
    for chunk in seeds.chunks(500) {
        pve.add_vms(chunk).await;
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}
