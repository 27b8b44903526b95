//! `--dry-run` on every mutating command: it says what would happen, asks nothing, sends no
//! write to Proxmox, changes no guest and writes no journal record.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

const MANIFEST: &str = "apiVersion: kubepve.io/v1alpha1
kind: ProxmoxVM
metadata:
  name: dry-vm
  namespace: default
spec:
  connectionRef:
    name: pve-lab
  vmid: 180
  node: pve1
  source:
    blank: {}
  memory: 1Gi
  disks:
    - slot: scsi0
      storage: local-lvm
      size: 4Gi
  runStrategy: Always
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_command_has_a_dry_run_that_changes_nothing() {
    let env = Env::new().await;
    env.seed().await;
    env.seed_templates("tmpl").await;
    std::fs::write(env.path("vm.yaml"), MANIFEST).unwrap();
    let manifest = env.path("vm.yaml").display().to_string();
    let vmids = [150, 151, 152, 200, 9000];
    let mut before = Vec::new();
    for v in vmids {
        before.push(env.pve.guest(v).await);
    }
    env.pve.clear_requests().await;
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["vm", "start", "151"],
            &["vm/151 (web-02): would POST nodes/pve1/qemu/151/status/start"],
        ),
        (
            &["vm", "stop", "150"],
            &["vm/150 (web-01): would POST nodes/pve1/qemu/150/status/stop"],
        ),
        (&["vm", "stop", "150", "--force"], &["overrule-shutdown=1"]),
        (
            &[
                "vm",
                "shutdown",
                "150,152",
                "--timeout",
                "30",
                "--force-after-timeout",
            ],
            &[
                "150/status/shutdown timeout=30 forceStop=1",
                "152/status/shutdown timeout=30 forceStop=1",
            ],
        ),
        (
            &["vm", "restart", "150,151"],
            &["150/status/reboot", "151/status/start"],
        ),
        (
            &["vm", "delete", "151"],
            &["would DELETE nodes/pve1/qemu/151"],
        ),
        (
            &["vm", "delete", "150", "--force", "--purge", "--purge-disks"],
            &[
                "Would delete (dry run):",
                "scsi0",
                "150/status/stop",
                "would DELETE nodes/pve1/qemu/150 purge=1 destroy-unreferenced-disks=1",
            ],
        ),
        (
            &[
                "vm",
                "update",
                "150",
                "--memory",
                "8G",
                "--add-tag",
                "team=ops",
            ],
            &[
                "vm/150 (web-01): (dry run)",
                "memory: 2048 -> 8192",
                "team.ops",
            ],
        ),
        (
            &[
                "vm", "create", "--vmid", "300", "--name", "new", "--memory", "1G",
            ],
            &["memory=1024", "name=new"],
        ),
        (
            &[
                "vm",
                "create",
                "--name",
                "copy",
                "--template",
                "tmpl",
                "--start",
            ],
            &["9000"],
        ),
        (
            &["ct", "start", "200"],
            &["ct/200 (dns-01): nothing to do (running) (dry run)"],
        ),
        (&["ct", "stop", "200"], &["lxc/200/status/stop"]),
        (&["ct", "shutdown", "200"], &["lxc/200/status/shutdown"]),
        (&["ct", "restart", "200"], &["lxc/200/status/reboot"]),
        (
            &["ct", "update", "200", "--memory", "1G"],
            &["memory:", "-> 1024"],
        ),
        (
            &["ct", "delete", "200", "--force"],
            &["would DELETE nodes/pve1/lxc/200"],
        ),
        (
            &[
                "ct",
                "create",
                "--vmid",
                "210",
                "--hostname",
                "c",
                "--ostemplate",
                "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                "--rootfs",
                "local-lvm:4",
            ],
            &["hostname=c"],
        ),
        (
            &["apply", "-f", &manifest],
            &[
                "proxmoxvm/dry-vm (vm/180):",
                "1. create memory=1024",
                "start=1",
            ],
        ),
    ];
    for (args, wants) in cases {
        let mut a = args.to_vec();
        a.push("--dry-run");
        // No stdin: a dry run never asks, even for commands that do.
        let r = env.run(&a);
        assert_eq!(r.code, 0, "{a:?}: {r:?}");
        // (apply prints its plan instead of "(dry run)" lines.)
        assert!(
            r.stdout.contains("dry run") || a[0] == "apply",
            "{a:?} does not say so: {}",
            r.stdout
        );
        for want in *wants {
            assert!(
                r.stdout.contains(want),
                "{a:?}: {want:?} missing:\n{}",
                r.stdout
            );
        }
        assert!(!r.stderr.contains("[y/N]"), "{a:?} asked: {}", r.stderr);
        let writes = env.writes().await;
        assert!(writes.is_empty(), "{a:?} wrote: {writes:?}");
    }
    for (v, b) in vmids.iter().zip(before) {
        assert_eq!(env.pve.guest(*v).await, b, "guest {v} changed");
    }
    for v in [180, 210, 300] {
        assert!(env.pve.guest(v).await.is_none(), "{v} was created");
    }
    assert!(env.journal().is_empty(), "{:?}", env.journal());
}
