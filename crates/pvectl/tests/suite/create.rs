//! End to end: `create` (flags, clone, container, file) and `update` (diff, dry run, tags).

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update() {
    let env = Env::new().await;
    env.seed().await;
    env.seed_templates("debian-12-cloudinit").await;
    // Dry run: nothing created.
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "300",
            "--name",
            "blank",
            "--memory",
            "2G",
            "--disk",
            "local-lvm:4",
            "--dry-run",
        ])
        .expect(0);
    assert!(
        r.stdout.contains("memory=2048") && r.stdout.contains("scsi0=local-lvm:4"),
        "{}",
        r.stdout
    );
    assert!(env.pve.guest(300).await.is_none());
    // From flags, started.
    let r = env
        .run(&[
            "vm",
            "create",
            "--vmid",
            "300",
            "--name",
            "blank",
            "--cores",
            "2",
            "--memory",
            "2G",
            "--disk",
            "local-lvm:4",
            "--net",
            "bridge=vmbr0",
            "--tags",
            "web,env=dev",
            "--ostype",
            "l26",
            "--start",
        ])
        .expect(0);
    assert!(r.stdout.contains("vm/300 qmcreate UPID:"), "{}", r.stdout);
    let g = env.pve.guest(300).await.unwrap();
    assert_eq!(g["status"], "running", "{g}");
    let r = env
        .run(&["vm", "list", "-l", "env=dev", "-o", "name"])
        .expect(0);
    assert!(r.stdout.contains("vm/300"), "{}", r.stdout);
    // VMID taken: usage error.
    env.run(&["vm", "create", "--vmid", "300", "--name", "again"])
        .expect(2);
    // Clone of a template with an allocated VMID.
    let r = env
        .run(&[
            "vm",
            "create",
            "--name",
            "cloned",
            "--template",
            "debian-12-cloudinit",
            "--memory",
            "1024",
        ])
        .expect(0);
    assert!(r.stdout.contains("qmclone"), "{}", r.stdout);
    let r = env.run(&["vm", "get", "cloned", "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["config"]["memory"].to_string().trim_matches('"'),
        "1024",
        "{v}"
    );
    // A container; its password never shows.
    std::fs::write(env.path("pw"), "sup3r-secret-pw").unwrap();
    let pw = env.path("pw").display().to_string();
    let r = env
        .run(&[
            "ct",
            "create",
            "--vmid",
            "210",
            "--hostname",
            "cache",
            "--ostemplate",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
            "--net",
            "name=eth0,bridge=vmbr0,ip=dhcp",
            "--password-file",
            &pw,
            "--dry-run",
        ])
        .expect(0);
    assert!(
        r.stdout.contains("password=(redacted)") && !r.stdout.contains("sup3r"),
        "{}",
        r.stdout
    );
    env.run(&[
        "ct",
        "create",
        "--vmid",
        "210",
        "--hostname",
        "cache",
        "--ostemplate",
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "--rootfs",
        "local-lvm:4",
        "--password-file",
        &pw,
    ])
    .expect(0);
    assert!(env.pve.guest(210).await.is_some());
    // From a file of raw keys.
    std::fs::write(
        env.path("raw.yaml"),
        "vmid: 310\nname: from-file\nmemory: 1024\n",
    )
    .unwrap();
    let raw = env.path("raw.yaml").display().to_string();
    env.run(&["vm", "create", "-f", &raw]).expect(0);
    assert!(env.pve.guest(310).await.is_some());

    // Update: dry run shows the diff and changes nothing.
    let r = env
        .run(&["vm", "update", "300", "--memory", "4G", "--dry-run"])
        .expect(0);
    assert!(r.stdout.contains("memory: 2048 -> 4096"), "{}", r.stdout);
    let r = env.run(&["vm", "get", "300", "-o", "json"]).expect(0);
    assert!(
        r.stdout.contains("\"memory\": \"2048\"") || r.stdout.contains("\"memory\": 2048"),
        "{}",
        r.stdout
    );
    env.run(&[
        "vm",
        "update",
        "300",
        "--memory",
        "4G",
        "--add-tag",
        "env=prod",
        "--set",
        "onboot=1",
    ])
    .expect(0);
    let r = env
        .run(&["vm", "list", "-l", "env=prod", "-o", "name"])
        .expect(0);
    assert!(r.stdout.contains("vm/300"), "{}", r.stdout);
    let r = env
        .run(&["vm", "list", "-l", "env=dev", "-o", "name"])
        .expect(0);
    assert!(!r.stdout.contains("vm/300"), "label replaced: {}", r.stdout);
    env.run(&["vm", "update", "300"]).expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_reads_raw_keys_and_manifests_from_stdin() {
    let env = Env::new().await;
    for file in ["/dev/stdin", "-"] {
        let args = [
            "vm",
            "create",
            "-f",
            file,
            "--vmid",
            "182",
            "--name",
            "x",
            "--node",
            "pve1",
            "--dry-run",
        ];
        let r = env.run_stdin(&args, "cores: 2\n").expect(0);
        assert!(r.stdout.contains("cores=2"), "{file}: {}", r.stdout);
    }
    let args = ["vm", "create", "-f", "-", "--vmid", "182", "--node", "pve1"];
    env.run_stdin(&args, "cores: 2\nname: piped\n").expect(0);
    let g = env.pve.guest(182).await.unwrap();
    assert_eq!(
        g["config"]["cores"].to_string().trim_matches('"'),
        "2",
        "{g:#}"
    );
    // A manifest on stdin goes through apply, which reads the same text again.
    let manifest = "apiVersion: kubepve.io/v1alpha1\nkind: ProxmoxVM\nmetadata:\n  name: m183\n  \
                    namespace: default\nspec:\n  connectionRef:\n    name: lab\n  node: pve1\n  \
                    vmid: 183\n  source:\n    blank: {}\n  runStrategy: Halted\n";
    let r = env
        .run_stdin(&["vm", "create", "-f", "-", "--dry-run"], manifest)
        .expect(0);
    assert!(r.stdout.contains("proxmoxvm/m183 (vm/183)"), "{}", r.stdout);
}
