//! End to end against fakepve: a raw key (`--set scsi0=local-lvm:8`) never silently replaces a
//! disk. On a create from a template it is refused (exit 2) with the flags that grow or add a
//! disk; on `vm update` it is refused unless `--replace-disk`, which saves a configuration backup
//! first and warns that the old disk is detached as `unusedN`.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;
use pve_testkit::VmSeed;

fn config(guest: &serde_json::Value, key: &str) -> String {
    guest["config"][key]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_on_a_templates_disk_slot_is_refused_before_the_clone() {
    let env = Env::new().await;
    env.seed_templates("debian-12").await;
    env.pve.clear_requests().await;
    let args = [
        "vm",
        "create",
        "--vmid",
        "190",
        "--template",
        "debian-12",
        "--name",
        "half4",
        "--set",
        "scsi0=local-lvm:8",
    ];
    for run in [&args[..], &[&args[..], &["--dry-run"]].concat()] {
        let r = env.run(run).expect(2);
        assert!(
            r.stderr.contains("scsi0 is the template's disk")
                && r.stderr.contains("--disk scsi0=STORAGE:SIZE_GB")
                && r.stderr.contains("--disk scsi1=STORAGE:SIZE_GB"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains("would set scsi0"), "{}", r.stdout);
    }
    assert!(env.writes().await.is_empty(), "{:#?}", env.writes().await);
    assert!(env.pve.guest(190).await.is_none());
    // A free slot is still a disk added next to the template's.
    env.run(&[
        "vm",
        "create",
        "--vmid",
        "191",
        "--template",
        "debian-12",
        "--set",
        "scsi1=local-lvm:4",
    ])
    .expect(0);
    let g = env.pve.guest(191).await.unwrap();
    assert!(config(&g, "scsi0").contains("vm-191-disk-0"), "{g:#}");
    assert!(config(&g, "scsi1").starts_with("local-lvm:"), "{g:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_replaces_a_disk_only_with_replace_disk_and_a_backup_first() {
    let env = Env::new().await;
    env.pve
        .add_vm(VmSeed::new(195, "app").config("scsi0", "local-lvm:vm-195-disk-0,size=8G"))
        .await;
    env.pve.clear_requests().await;
    for dry in [false, true] {
        let mut args = vec!["vm", "update", "195", "--set", "scsi0=local-lvm:8"];
        if dry {
            args.push("--dry-run");
        }
        let r = env.run(&args).expect(2);
        assert!(
            r.stderr
                .contains("scsi0 holds the disk local-lvm:vm-195-disk-0,size=8G")
                && r.stderr.contains("--replace-disk"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains("->"), "{}", r.stdout);
    }
    assert!(env.writes().await.is_empty(), "{:#?}", env.writes().await);
    // Options of the same volume are not a replacement.
    env.run(&[
        "vm",
        "update",
        "195",
        "--set",
        "scsi0=local-lvm:vm-195-disk-0,size=8G,ssd=1",
    ])
    .expect(0);
    let args = [
        "vm",
        "update",
        "195",
        "--set",
        "scsi0=local-lvm:8",
        "--replace-disk",
    ];
    let r = env.run(&[&args[..], &["--dry-run"]].concat()).expect(0);
    assert!(
        r.stderr.contains(
            "warning: vm/195: the disk in scsi0 (local-lvm:vm-195-disk-0,size=8G,ssd=1) would be \
             detached as unused0"
        ),
        "{}",
        r.stderr
    );
    let r = env.run(&args).expect(0);
    assert!(
        r.stdout.contains("configuration saved to") && r.stdout.contains("before replacing scsi0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(
            "is detached as unused0 (it stays on its storage: remove it with --delete unused0)"
        ),
        "{}",
        r.stderr
    );
    let g = env.pve.guest(195).await.unwrap();
    assert!(!config(&g, "scsi0").contains("vm-195-disk-0"), "{g:#}");
    let backups = env.run(&["backup", "list", "-o", "json"]).expect(0);
    assert!(backups.stdout.contains("vm/195"), "{}", backups.stdout);
}
