//! What creating and starting a guest costs in Proxmox requests (issue 17): the floor is the
//! create call with `start=1` and one task status read where the task ends at once, so `vm
//! create --start` and `apply` of a manifest with `runStrategy: Always` must stay near it.
//! Counted by fakepve, login excluded; no timing is asserted.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

/// The recorded requests, one `METHOD path` per line, login left out.
async fn sent(env: &Env) -> Vec<String> {
    env.pve
        .requests()
        .await
        .into_iter()
        .filter(|r| !r.path.ends_with("/access/ticket"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_start_costs_five_requests_with_its_checks_kept() {
    let env = Env::new().await;
    env.pve.clear_requests().await;
    let r = env
        .run(&[
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
        ])
        .expect(0);
    let reqs = sent(&env).await;
    eprintln!("{}\n{}\n{reqs:#?}", r.stdout, r.stderr);
    let creates: Vec<&String> = reqs.iter().filter(|r| r.starts_with("POST")).collect();
    assert_eq!(creates.len(), 1, "one create call starts it too: {reqs:#?}");
    let start = env
        .pve
        .requests()
        .await
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(start.body.contains("start=1"), "{}", start.body);
    // Resources (guests and nodes in one read), VMID, storages (the pre-flight checks), the
    // create, one status read: the node and capacity checks use the nodes of the resource
    // read, and the log of a task that ended OK at once is not read.
    assert!(reqs.len() <= 5, "{} requests: {reqs:#?}", reqs.len());
    only_needed_reads(&reqs);
    let g = env.pve.guest(100).await.unwrap();
    assert_eq!(g["status"], "running", "{g:#}");
}

/// No `GET /nodes` (the resource read has them), no task log, one task status read.
fn only_needed_reads(reqs: &[String]) {
    assert!(!reqs.iter().any(|r| r.ends_with("/nodes")), "{reqs:#?}");
    assert!(!reqs.iter().any(|r| r.ends_with("/log")), "{reqs:#?}");
    assert_eq!(
        reqs.iter().filter(|r| r.ends_with("/status")).count(),
        1,
        "{reqs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_of_a_running_guest_costs_six_requests() {
    let env = Env::new().await;
    std::fs::write(
        env.path("vm.yaml"),
        common::vm_manifest("web-1", 120, "pve1"),
    )
    .unwrap();
    env.pve.clear_requests().await;
    let path = env.path("vm.yaml").display().to_string();
    let r = env.run(&["apply", "-f", &path]).expect(0);
    let reqs = sent(&env).await;
    eprintln!("{}\n{}\n{reqs:#?}", r.stdout, r.stderr);
    let g = env.pve.guest(120).await.unwrap();
    assert_eq!(g["status"], "running", "{g:#}");
    // Resources, the create with start=1, one status read; then the check that nothing is left
    // to do: resources, config, pending.
    assert!(reqs.len() <= 6, "{} requests: {reqs:#?}", reqs.len());
    only_needed_reads(&reqs);
    let create = env
        .pve
        .requests()
        .await
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(create.body.contains("start=1"), "{}", create.body);
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("POST")).count(),
        1,
        "{reqs:#?}"
    );
}
