//! End to end: `apply`, `diff` and `export` with the samples and the operator's planner.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;
use pve_testkit::VmSeed;

/// The fake as `make demo` sets it up: the cloud-init template and the LXC template.
async fn demo_env() -> Env {
    let env = Env::new().await;
    env.pve
        .add_vm(
            VmSeed::new(9000, "debian-12-cloudinit")
                .template()
                .config("memory", 2048)
                .config("scsi0", "local-lvm:base-9000-disk-0,size=32G")
                .config("ide2", "local-lvm:vm-9000-cloudinit,media=cdrom")
                .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
        )
        .await;
    env.store_lxc_template().await;
    // vm-blank.yaml boots an ISO and vm-from-template.yaml goes into pool `web`.
    env.pve
        .store_file("local", "debian-12.8.0-amd64-netinst.iso", 600 << 20, "iso")
        .await;
    let token = env.pve.create_token("root@pam", "setup").await;
    let client = pve_client::Client::builder(
        env.pve.url(),
        pve_client::Auth::token(token.id, token.secret),
    )
    .tls(pve_client::Tls::CaBundle(env.pve.ca_pem().to_string()))
    .build()
    .unwrap();
    client.create_pool("web", None).await.unwrap();
    env
}

fn samples() -> String {
    format!("{}/../../config/samples/", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_samples_then_nothing_to_do() {
    let env = demo_env().await;
    let samples = samples();
    let r = env.run(&["diff", "-f", &samples]).expect(1);
    assert!(r.stdout.contains("clone"), "{}", r.stdout);
    let r = env.run(&["apply", "-f", &samples, "--dry-run"]).expect(0);
    assert!(r.stdout.contains("proxmoxvm/web-01"), "{}", r.stdout);
    assert!(
        env.pve.guest(150).await.is_none(),
        "dry run created a guest"
    );
    let r = env.run(&["apply", "-f", &samples]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    let r = r.expect(0);
    assert!(
        r.stdout.contains("proxmoxvm/web-01 (vm/150) created"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("proxmoxcontainer/dns-01 (ct/200) created"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("skipped ProxmoxConnection/pve-lab"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("change-me-please") && !r.stderr.contains("change-me-please"));
    // Each change (`power: stopped -> running`, ...) is said once, not again on every step.
    let changes: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" -> ")).collect();
    let distinct: std::collections::BTreeSet<&str> = changes.iter().copied().collect();
    assert!(changes.iter().any(|l| l.contains("power")), "{}", r.stderr);
    assert_eq!(changes.len(), distinct.len(), "{}", r.stderr);
    assert_eq!(env.status(150).await.as_deref(), Some("running"));
    assert_eq!(env.status(200).await.as_deref(), Some("running"));
    let r = env.run(&["diff", "-f", &samples]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    r.expect(0);
    env.pve.clear_requests().await;
    let r = env.run(&["apply", "-f", &samples]).expect(0);
    assert!(
        r.stdout.contains("web-01 (vm/150) unchanged"),
        "{}",
        r.stdout
    );
    // Nothing to do costs one cluster-wide read for all the manifests (3 guests in the
    // samples), not one each.
    assert_eq!(env.pve.count("GET", "/cluster/resources").await, 1);
    let j = env.journal();
    assert!(
        j.iter()
            .any(|r| r["command"].as_str().unwrap().contains("apply"))
    );
    assert!(!env.journal_text().contains("change-me-please"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_round_trips_through_apply() {
    let env = demo_env().await;
    let samples = samples();
    env.run(&["apply", "-f", &samples]).expect(0);
    for (kind, id, file) in [("vm", "150", "vm.yaml"), ("ct", "dns-01", "ct.yaml")] {
        let r = env.run(&["export", kind, id]).expect(0);
        assert!(r.stdout.contains("uid: pvectl-"), "{}", r.stdout);
        std::fs::write(env.path(file), &r.stdout).unwrap();
        let path = env.path(file).display().to_string();
        let r = env.run(&["diff", "-f", &path]);
        assert_eq!(
            r.code,
            0,
            "{kind} {id}\n{}\n{}\n{}",
            std::fs::read_to_string(env.path(file)).unwrap(),
            r.stdout,
            r.stderr
        );
        let r = env.run(&["apply", "-f", &path]).expect(0);
        assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    }
    // A guest made by hand: the export says --adopt, which apply needs once.
    env.pve
        .add_vm(
            VmSeed::new(170, "hand-made")
                .running()
                .config("cores", 2)
                .config("memory", 1024)
                .config("scsi0", "local-lvm:vm-170-disk-0,size=8G")
                .config("net0", "virtio=BC:24:11:00:00:70,bridge=vmbr0")
                .config("tags", "env.lab"),
        )
        .await;
    let r = env
        .run(&["export", "vm", "hand-made", "-o", "json"])
        .expect(0);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["kind"], "ProxmoxVM");
    assert_eq!(doc["spec"]["vmid"], 170);
    std::fs::write(env.path("hand.json"), &r.stdout).unwrap();
    let path = env.path("hand.json").display().to_string();
    let r = env.run(&["apply", "-f", &path]).expect(1);
    assert!(r.stderr.contains("does not own"), "{}", r.stderr);
    let r = env.run(&["apply", "-f", &path, "--adopt"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = env.run(&["diff", "-f", &path]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let tags = env.pve.guest(170).await.unwrap()["config"]["tags"].to_string();
    assert!(tags.contains("kubepve-owner-pvectl-"), "{tags}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_clone_exports_as_a_clone_of_its_template_and_applies_unchanged() {
    let env = demo_env().await;
    // A linked clone as Proxmox writes it: its disk is built on the template's base disk.
    env.pve
        .add_vm(
            VmSeed::new(194, "linked")
                .config("cores", 2)
                .config("memory", 2048)
                .config("scsi0", "local-lvm:base-9000-disk-0/vm-194-disk-0,size=32G")
                .config("net0", "virtio=BC:24:11:00:01:94,bridge=vmbr0"),
        )
        .await;
    let r = env.run(&["export", "vm", "194", "-o", "json"]).expect(0);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        doc["spec"]["source"],
        serde_json::json!({"clone": {"templateVmid": 9000, "mode": "Linked"}}),
        "{doc:#}"
    );
    std::fs::write(env.path("linked.json"), &r.stdout).unwrap();
    let path = env.path("linked.json").display().to_string();
    let r = env.run(&["apply", "-f", &path, "--adopt"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = env.run(&["diff", "-f", &path]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let g = env.pve.guest(194).await.unwrap();
    assert_eq!(
        g["config"]["scsi0"], "local-lvm:base-9000-disk-0/vm-194-disk-0,size=32G",
        "{g:#}"
    );
    // A VM without such a trace stays blank, with a comment saying so.
    let r = env.run(&["export", "vm", "hand", "-o", "yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    env.pve
        .add_vm(VmSeed::new(171, "plain").config("scsi0", "local-lvm:vm-171-disk-0,size=8G"))
        .await;
    let r = env.run(&["export", "vm", "171"]).expect(0);
    assert!(r.stdout.contains("blank: {}"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("does not record whether this VM was a full clone"),
        "{}",
        r.stdout
    );
}
