//! What creating and starting a guest costs in Proxmox requests (issue 17): the floor is the
//! create call with `start=1` and one task status read where the task ends at once, so `vm
//! create --start` and `apply` of a manifest with `runStrategy: Always` must stay near it.
//! Counted by fakepve, login excluded; no timing is asserted.

#![allow(clippy::unwrap_used)]

mod common;

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
async fn vm_create_start_sends_one_create_with_start_and_reads_nodes_and_the_log_no_more() {
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
    // Guests, VMID, nodes, storages (the pre-flight checks), the create, one status read: the
    // node list is read once for the node and capacity checks, and the log of a task that
    // ended OK at once is not read.
    assert!(reqs.len() <= 6, "{} requests: {reqs:#?}", reqs.len());
    assert_eq!(
        reqs.iter().filter(|r| r.ends_with("/nodes")).count(),
        1,
        "{reqs:#?}"
    );
    assert!(!reqs.iter().any(|r| r.ends_with("/log")), "{reqs:#?}");
    assert_eq!(
        reqs.iter().filter(|r| r.ends_with("/status")).count(),
        1,
        "{reqs:#?}"
    );
    let g = env.pve.guest(100).await.unwrap();
    assert_eq!(g["status"], "running", "{g:#}");
}
