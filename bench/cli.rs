//! `pvectl` at scale: `vm list` over 2000 guests, and creating and starting guests beside the
//! floor of issue 17, each batch on a fresh fakepve (tasks end at once), VMIDs from `inprocess::FIRST_VMID`:
//! `bench/floor.py` (a plain script, one POST with start=1 and task status reads per VM, 8
//! threads), `pvectl vm create --vmid N --start` (100 invocations, 8 at a time), and `pvectl
//! apply -f` of 100 and of 1000 manifests, with the floor at 1000 too, for how the fake itself
//! scales. Each pvectl run is a separate process with a config of its own. Requests are
//! counted by the fake; nobody logs in (API tokens everywhere), and a login would be left out
//! of every count.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pve_testkit::{FakePve, Token, VmSeed};
use serde::{Deserialize, Serialize};

use crate::inprocess::{FIRST_VMID, Profile, client, guest_object, running_guests, start_pve};
use crate::support::pvectl::Pvectl;

/// Guests seeded for `vm list`.
pub const LIST_GUESTS: u32 = 2000;
/// Manifests applied in the first apply run (and VMs of the floor and of `vm create`).
pub const APPLY_MANIFESTS: usize = 100;
/// Manifests applied in the large apply run.
pub const APPLY_MANIFESTS_LARGE: usize = 1000;
/// Threads of the floor client and `vm create` invocations at once (the 8).
pub const AT_ONCE: usize = 8;
/// Runs of `vm list` (the median is reported).
const LIST_RUNS: usize = 5;
/// First VMID of the listed guests.
const LIST_FIRST_VMID: u32 = 100_000;

/// One batch of guests created and started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Guests asked for.
    pub guests: usize,
    /// Wall time of the whole batch, s.
    pub wall_secs: f64,
    /// Proxmox requests the fake recorded for it.
    pub requests: usize,
    /// Requests by `METHOD path-shape`, for the report's note.
    pub by_request: std::collections::BTreeMap<String, usize>,
    /// Guests of the batch running afterwards.
    pub running: usize,
}

impl Batch {
    /// Requests per guest.
    pub fn per_guest(&self) -> f64 {
        self.requests as f64 / self.guests.max(1) as f64
    }
}

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
    /// The floor client: 100 VMs created and started.
    pub floor: Batch,
    /// `vm create --vmid N --start`, 100 invocations, 8 at a time.
    pub create: Batch,
    /// `apply -f` of 100 manifests.
    pub apply: Batch,
    /// The floor client: 1000 VMs created and started (how the fake itself scales).
    pub floor_large: Batch,
    /// `apply -f` of 1000 manifests.
    pub apply_large: Batch,
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

/// Measures `vm list`, the floor, `vm create` and `apply` with the pvectl binary `bin` and
/// the venv's Python (`python`).
pub async fn run(bin: &Path, python: &Path) -> CliRun {
    let (pve, token) = start_pve(Profile::Instant).await;
    let pvectl = connected(bin, &pve, &token);
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
    pve.stop().await;

    // Each batch on a fakepve of its own, started the same way: fakepve slows down as guests
    // pile up in it (the floor's 100 VMs took 1.0 s on an empty fake and 2.7 s on one holding
    // 1200), so batches run one after another on one fake would each be measured against a
    // fuller fake than the one before.
    eprintln!("  floor client: {APPLY_MANIFESTS} VMs, {AT_ONCE} threads...");
    let (pve, token, pvectl) = fresh(bin).await;
    let floor = run_floor(python, &pvectl, &pve, &token, APPLY_MANIFESTS).await;
    pve.stop().await;
    eprintln!("  vm create --start: {APPLY_MANIFESTS} invocations, {AT_ONCE} at a time...");
    let (pve, token, pvectl) = fresh(bin).await;
    let create = run_create(&pvectl, &pve, &token).await;
    pve.stop().await;
    eprintln!("  apply -f: {APPLY_MANIFESTS} manifests...");
    let (pve, token, pvectl) = fresh(bin).await;
    let apply = run_apply(&pvectl, &pve, &token, APPLY_MANIFESTS).await;
    pve.stop().await;
    eprintln!("  floor client: {APPLY_MANIFESTS_LARGE} VMs, {AT_ONCE} threads...");
    let (pve, token, pvectl) = fresh(bin).await;
    let floor_large = run_floor(python, &pvectl, &pve, &token, APPLY_MANIFESTS_LARGE).await;
    pve.stop().await;
    eprintln!("  apply -f: {APPLY_MANIFESTS_LARGE} manifests...");
    let (pve, token, pvectl) = fresh(bin).await;
    let apply_large = run_apply(&pvectl, &pve, &token, APPLY_MANIFESTS_LARGE).await;
    pve.stop().await;
    CliRun {
        list_calls,
        list_wall_ms: median(walls),
        list_request_ms: median(requests),
        list_rows,
        floor,
        create,
        apply,
        floor_large,
        apply_large,
    }
}

/// A fresh fakepve (tasks end at once) and pvectl with a current context for it.
async fn fresh(bin: &Path) -> (FakePve, Token, Pvectl) {
    let (pve, token) = start_pve(Profile::Instant).await;
    let pvectl = connected(bin, &pve, &token);
    (pve, token, pvectl)
}

/// pvectl with a current context for `pve`.
fn connected(bin: &Path, pve: &FakePve, token: &Token) -> Pvectl {
    let pvectl = Pvectl::with_binary(bin.to_path_buf());
    let context = pvectl.context_args("bench", pve, token);
    timed(
        &pvectl,
        &context.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    pvectl
}

/// The venv's Python: `$KUBEPVE_VENV/bin/python`, else the workspace's `.venv` (as fakepve's
/// launcher finds it).
pub fn venv_python() -> PathBuf {
    std::env::var_os("KUBEPVE_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"))
        .join("bin")
        .join("python")
}

/// What the floor client printed.
#[derive(Deserialize)]
struct FloorOut {
    wall_secs: f64,
    failed: usize,
}

/// `bench/floor.py` on `pve`: its wall time as it measured it (from its first request to
/// its last answer, without the interpreter's start, so the floor is not flattered), the
/// requests as the fake counted them.
async fn run_floor(
    python: &Path,
    pvectl: &Pvectl,
    pve: &FakePve,
    token: &Token,
    n: usize,
) -> Batch {
    let secret = pvectl.path("floor-token");
    let ca = pvectl.path("floor-ca.pem");
    std::fs::write(&secret, &token.secret).expect("floor token file");
    std::fs::write(&ca, pve.ca_pem()).expect("floor CA file");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/floor.py");
    pve.clear_requests().await;
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(["--url", pve.url(), "--token-id", &token.id])
        .arg("--token-secret-file")
        .arg(&secret)
        .arg("--ca-file")
        .arg(&ca)
        .args(["--first-vmid", &FIRST_VMID.to_string()])
        .args(["--count", &n.to_string()])
        .args(["--threads", &AT_ONCE.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "bench/floor.py failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: FloorOut = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bench/floor.py printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(printed.failed, 0, "the floor's tasks failed");
    let wall = Duration::from_secs_f64(printed.wall_secs);
    batch(pve, token, n, wall).await
}

/// `pvectl vm create --vmid N --start`, one invocation per VM, [`AT_ONCE`] at a time.
async fn run_create(pvectl: &Pvectl, pve: &FakePve, token: &Token) -> Batch {
    pve.clear_requests().await;
    let next = AtomicU32::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i as usize >= APPLY_MANIFESTS {
                        break;
                    }
                    let vmid = (FIRST_VMID + i).to_string();
                    let name = format!("create-{i:04}");
                    timed(
                        pvectl,
                        &[
                            "vm",
                            "create",
                            "--vmid",
                            &vmid,
                            "--node",
                            "pve1",
                            "--name",
                            &name,
                            "--memory",
                            "512",
                            "--cores",
                            "1",
                            "--disk",
                            "scsi0=local-lvm:8",
                            "--start",
                        ],
                    );
                }
            });
        }
    });
    let wall = started.elapsed();
    batch(pve, token, APPLY_MANIFESTS, wall).await
}

/// `pvectl apply -f` of a folder of `n` manifests.
async fn run_apply(pvectl: &Pvectl, pve: &FakePve, token: &Token, n: usize) -> Batch {
    let manifests = pvectl.path(&format!("manifests-{n}"));
    std::fs::create_dir(&manifests).expect("manifest dir");
    for i in 0..n {
        let object = guest_object(i, "pve", "default");
        let yaml = serde_saphyr::to_string(&object).expect("manifest as YAML");
        std::fs::write(manifests.join(format!("vm-{i:04}.yaml")), yaml).expect("write manifest");
    }
    pve.clear_requests().await;
    let (_, wall) = timed(pvectl, &["apply", "-f", path(&manifests)]);
    batch(pve, token, n, wall).await
}

/// The batch's figures: the requests the fake recorded since it was cleared, and how many of
/// the `n` guests from [`FIRST_VMID`] run.
async fn batch(pve: &FakePve, token: &Token, n: usize, wall: Duration) -> Batch {
    let recorded = pve.requests().await;
    let mut by_request = std::collections::BTreeMap::new();
    for r in &recorded {
        *by_request
            .entry(format!("{} {}", r.method, shape(&r.path)))
            .or_insert(0) += 1;
    }
    let running = running_guests(pve, token, n).await;
    Batch {
        guests: n,
        wall_secs: wall.as_secs_f64(),
        requests: recorded.len(),
        by_request,
        running,
    }
}

/// A request path with its VMID and UPID written as `{vmid}` and `{upid}`.
fn shape(path: &str) -> String {
    let path = path.strip_prefix("/api2/json").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| match i.checked_sub(1).map(|p| segments[p]) {
            Some("tasks") => "{upid}",
            Some("qemu" | "lxc") if s.parse::<u32>().is_ok() => "{vmid}",
            _ => s,
        })
        .collect::<Vec<_>>()
        .join("/")
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
