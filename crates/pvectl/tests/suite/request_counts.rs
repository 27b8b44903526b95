//! What creating and starting a guest costs in Proxmox requests (issue 17): the floor is the
//! create call with `start=1` and one task status read where the task ends at once, so `vm
//! create --start` and `apply` of a manifest with `runStrategy: Always` must stay near it:
//! one `/cluster/resources` read (which also serves the node, storage and capacity checks),
//! the create, one status read; `GET /cluster/nextid` only when no VMID is given. `apply` of
//! many manifests shares the resource read between them. The exact requests are pinned, so
//! one more is a failure. Counted by fakepve, login excluded; no timing is asserted.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, vm_manifest};

const RESOURCES: &str = "GET /cluster/resources";
const CREATE: &str = "POST /nodes/pve1/qemu";
const STATUS: &str = "GET /nodes/pve1/tasks/UPID/status";

/// The recorded requests, one `METHOD path` per line without `/api2/json`, a task's UPID
/// written `UPID`, login left out.
async fn sent(env: &Env) -> Vec<String> {
    env.pve
        .requests()
        .await
        .into_iter()
        .filter(|r| !r.path.ends_with("/access/ticket"))
        .map(|r| {
            let path = r.path.strip_prefix("/api2/json").unwrap_or(&r.path);
            let segments: Vec<&str> = path.split('/').collect();
            let path: Vec<&str> = segments
                .iter()
                .enumerate()
                .map(|(i, s)| match i.checked_sub(1).map(|p| segments[p]) {
                    Some("tasks") => "UPID",
                    _ => s,
                })
                .collect();
            format!("{} {}", r.method, path.join("/"))
        })
        .collect()
}

/// The POST that created `vmid` carried `start=1`.
async fn created_with_start(env: &Env, vmid: u32) {
    let create = env
        .pve
        .requests()
        .await
        .into_iter()
        .find(|r| r.method == "POST" && r.body.contains(&format!("vmid={vmid}")))
        .unwrap();
    assert!(create.body.contains("start=1"), "{}", create.body);
    let g = env.pve.guest(vmid).await.unwrap();
    assert_eq!(g["status"], "running", "{g:#}");
}

fn create_args(vmid: Option<&str>) -> Vec<&str> {
    let mut args = vec![
        "vm",
        "create",
        "--node",
        "pve1",
        "--name",
        "web",
        "--memory",
        "512",
        "--disk",
        "scsi0=local-lvm:8",
        "--start",
    ];
    if let Some(v) = vmid {
        args.extend(["--vmid", v]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_start_with_a_vmid_costs_three_requests_with_its_checks_kept() {
    let env = Env::new().await;
    env.pve.clear_requests().await;
    let r = env.run(&create_args(Some("120"))).expect(0);
    let reqs = sent(&env).await;
    // The resource read serves the VMID, node, storage and capacity checks; the log of a
    // task that ended OK at once is not read.
    assert_eq!(
        reqs,
        [RESOURCES, CREATE, STATUS],
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    created_with_start(&env, 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_start_without_a_vmid_asks_proxmox_for_one() {
    let env = Env::new().await;
    env.pve.clear_requests().await;
    let r = env.run(&create_args(None)).expect(0);
    let reqs = sent(&env).await;
    // `GET /cluster/nextid` honours the datacenter's next-id range.
    assert_eq!(
        reqs,
        [RESOURCES, "GET /cluster/nextid", CREATE, STATUS],
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    created_with_start(&env, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_the_resource_read_does_not_list_is_checked_on_the_node() {
    let env = Env::new().await;
    env.pve.clear_requests().await;
    let mut args = create_args(Some("121"));
    args[9] = "scsi0=nosuch:8";
    let r = env.run(&args).expect(2);
    assert!(
        r.stderr
            .contains("no storage \"nosuch\" on node pve1 (storages for images there: local-lvm"),
        "{}",
        r.stderr
    );
    // The refusal is the node's own storage list's answer, and nothing is created.
    assert_eq!(sent(&env).await, [RESOURCES, "GET /nodes/pve1/storage"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_of_a_running_guest_costs_three_requests() {
    let env = Env::new().await;
    std::fs::write(env.path("vm.yaml"), vm_manifest("web-1", 120, "pve1")).unwrap();
    env.pve.clear_requests().await;
    let path = env.path("vm.yaml").display().to_string();
    let r = env.run(&["apply", "-f", &path]).expect(0);
    let reqs = sent(&env).await;
    // Resources, the create with start=1, one status read: the create carried the whole
    // config, so the guest is not read back.
    assert_eq!(
        reqs,
        [RESOURCES, CREATE, STATUS],
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stdout.contains("proxmoxvm/web-1 (vm/120) created"),
        "{}",
        r.stdout
    );
    created_with_start(&env, 120).await;
    // What it created is what the manifest says: a second apply changes nothing.
    let again = env.run(&["apply", "-f", &path]).expect(0);
    assert!(
        again.stdout.contains("proxmoxvm/web-1 (vm/120) unchanged"),
        "{}",
        again.stdout
    );
}

fn sorted(mut reqs: Vec<String>) -> Vec<String> {
    reqs.sort();
    reqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_of_several_manifests_reads_the_resources_once_per_round() {
    let env = Env::new().await;
    let docs: Vec<String> = (0..5)
        .map(|i| vm_manifest(&format!("web-{i}"), 130 + i, "pve1"))
        .collect();
    std::fs::write(env.path("all.yaml"), docs.join("---\n")).unwrap();
    let path = env.path("all.yaml").display().to_string();
    env.pve.clear_requests().await;
    let r = env.run(&["apply", "-f", &path]).expect(0);
    // Fresh guests: one round, one read for all five, then a create and a status read each.
    let mut wanted = vec![RESOURCES.to_string()];
    wanted.extend((0..5).flat_map(|_| [CREATE.to_string(), STATUS.to_string()]));
    assert_eq!(
        sorted(sent(&env).await),
        sorted(wanted),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    for i in 0..5 {
        created_with_start(&env, 130 + i).await;
    }
    // Existing guests: the same one read for all, then each guest's config and pending.
    env.pve.clear_requests().await;
    let r = env.run(&["apply", "-f", &path]).expect(0);
    let mut wanted = vec![RESOURCES.to_string()];
    wanted.extend((0..5).flat_map(|i| {
        [
            format!("GET /nodes/pve1/qemu/{}/config", 130 + i),
            format!("GET /nodes/pve1/qemu/{}/pending", 130 + i),
        ]
    }));
    assert_eq!(
        sorted(sent(&env).await),
        sorted(wanted),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.ends_with(" unchanged"))
            .count(),
        5,
        "{}",
        r.stdout
    );
}
