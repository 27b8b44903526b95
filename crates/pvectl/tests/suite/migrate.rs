//! End to end: `pvectl vm|ct migrate ID --node TARGET`: the pre-flight check (Proxmox's
//! `GET .../migrate` and the cluster's nodes) refuses what Proxmox would refuse with what to do
//! (exit 1, journaled as `refused`), an unknown node or a flag of the other guest type is a
//! usage error (exit 2), `--dry-run` shows the request, and a migration runs with its task
//! followed and journaled. fakepve implements container migration; its QEMU migrate is the
//! schema's generic stub (a task that succeeds without moving the VM), so the VM test asserts
//! the pre-flight and the request sent.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

/// The migrate requests fakepve saw, as `path body`.
async fn migrations(env: &Env) -> Vec<String> {
    env.writes()
        .await
        .into_iter()
        .filter(|w| w.contains("/migrate"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_container_is_migrated_in_restart_mode_after_its_checks() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.add_node("pve2", true).await;
    env.pve.clear_requests().await;

    // Running, without --restart: refused before anything is sent.
    let r = env
        .run(&["ct", "migrate", "200", "--node", "pve2"])
        .expect(1);
    assert!(
        r.stderr.contains("blocked: the container is running"),
        "{r:?}"
    );
    assert!(r.stderr.contains("--restart"), "{r:?}");
    assert!(migrations(&env).await.is_empty());
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "refused", "{last:#}");

    // Flags of the other guest type and unknown nodes are usage errors.
    let r = env
        .run(&["ct", "migrate", "200", "--node", "pve2", "--online"])
        .expect(2);
    assert!(r.stderr.contains("--restart"), "{r:?}");
    let r = env
        .run(&["ct", "migrate", "200", "--node", "nope", "--restart"])
        .expect(2);
    assert!(r.stderr.contains("nope"), "{r:?}");

    // A dry run shows the request and sends nothing.
    let r = env
        .run(&[
            "ct",
            "migrate",
            "200",
            "--node",
            "pve2",
            "--restart",
            "--dry-run",
        ])
        .expect(0);
    assert!(r.stdout.contains("migrate to pve2 (restart)"), "{r:?}");
    assert!(r.stdout.contains("nodes/pve1/lxc/200/migrate"), "{r:?}");
    assert!(r.stdout.contains("restart=1"), "{r:?}");
    assert!(migrations(&env).await.is_empty());

    let r = env
        .run(&["ct", "migrate", "dns-01", "--node", "pve2", "--restart"])
        .expect(0);
    assert!(r.stdout.contains("ct/200 vzmigrate UPID:"), "{r:?}");
    let guest = env.pve.guest(200).await.unwrap();
    assert_eq!(guest["node"], "pve2");
    assert_eq!(guest["status"], "running");
    let sent = migrations(&env).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("target=pve2") && sent[0].contains("restart=1"),
        "{sent:?}"
    );
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "ok", "{last:#}");
    assert!(last["guests"].to_string().contains("ct/200"), "{last:#}");
    assert!(
        last["upids"].to_string().contains(":vzmigrate:200:"),
        "{last:#}"
    );

    // Already there: nothing to do.
    let r = env
        .run(&["ct", "migrate", "200", "--node", "pve2", "--restart"])
        .expect(0);
    assert!(r.stdout.contains("already on pve2"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_vm_with_local_disks_needs_with_local_disks_and_an_offline_node_is_refused() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.add_node("pve2", true).await;
    env.pve.add_node("pve3", true).await;
    env.pve.set_node_offline("pve3", true).await;
    env.pve
        .answer_get(
            "/nodes/pve1/qemu/150/migrate",
            serde_json::json!({
                "running": 1, "allowed_nodes": ["pve2"], "not_allowed_nodes": {},
                "local_disks": [{"volid": "local-lvm:vm-150-disk-0", "size": 1, "cdrom": 0}],
                "local_resources": [],
            }),
        )
        .await;
    env.pve.clear_requests().await;

    let r = env
        .run(&["vm", "migrate", "150", "--node", "pve2"])
        .expect(1);
    assert!(r.stderr.contains("pass --online"), "{r:?}");
    let r = env
        .run(&["vm", "migrate", "150", "--node", "pve2", "--online"])
        .expect(1);
    assert!(
        r.stderr.contains("local disks: local-lvm:vm-150-disk-0"),
        "{r:?}"
    );
    assert!(r.stderr.contains("with-local-disks"), "{r:?}");
    let r = env
        .run(&[
            "vm",
            "migrate",
            "150",
            "--node",
            "pve3",
            "--online",
            "--with-local-disks",
        ])
        .expect(1);
    assert!(r.stderr.contains("'pve3' is offline"), "{r:?}");
    let r = env
        .run(&["vm", "migrate", "150", "--node", "pve2", "--restart"])
        .expect(2);
    assert!(r.stderr.contains("--online"), "{r:?}");
    assert!(migrations(&env).await.is_empty(), "nothing was sent");

    let r = env
        .run(&[
            "vm",
            "migrate",
            "web-01",
            "--node",
            "pve2",
            "--online",
            "--with-local-disks",
        ])
        .expect(0);
    assert!(r.stdout.contains("vm/150 "), "{r:?}");
    let sent = migrations(&env).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    for part in [
        "/nodes/pve1/qemu/150/migrate",
        "target=pve2",
        "online=1",
        "with-local-disks=1",
    ] {
        assert!(sent[0].contains(part), "{part}: {sent:?}");
    }
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "ok", "{last:#}");
}
