//! Pre-flight checks and configuration backups against fakepve: snapshots, protection, HA,
//! replication and backup jobs, templates with linked clones, node capacity; backups that hold
//! the config as it was before the change (secrets redacted), `backup list`/`show`, and
//! `vm create -f` from a backup.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, json_of};
use pve_client::{Auth, Client, Params, Tls};
use pve_testkit::VmSeed;
use serde_json::{Value, json};

fn client(env: &Env) -> Client {
    Client::builder(
        env.pve.url(),
        Auth::token("root@pam!pvectl".to_string(), env.token_secret.clone()),
    )
    .tls(Tls::CaBundle(env.pve.ca_pem().to_string()))
    .build()
    .unwrap()
}

async fn snapshot(env: &Env, vmid: u32, name: &str) {
    let c = client(env);
    let upid: String = c
        .request(
            "snapshot",
            pve_client::Method::POST,
            &format!("nodes/pve1/qemu/{vmid}/snapshot"),
            Params::new().set("snapname", name),
        )
        .await
        .unwrap();
    let upid = upid.parse().unwrap();
    let end = c.wait_task(&upid, Default::default()).await.unwrap();
    assert!(end.is_success(), "snapshot {name}: {end:?}");
}

/// A config value as Proxmox writes it (`2` and `"2"` alike).
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The backup files in the test's state folder.
fn backups(env: &Env) -> Vec<Value> {
    let r = env.run(&["backup", "list", "-o", "json"]).expect(0);
    json_of(&r.stdout).as_array().unwrap().clone()
}

fn backup_file(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_saves_the_config_lists_snapshots_and_the_backup_recreates_the_guest() {
    let env = Env::new().await;
    env.seed().await;
    client(&env)
        .qemu("pve1", 150)
        .update_config(
            Params::new()
                .set("cipassword", "hunter2-secret")
                .set("net0", "virtio=BC:24:11:00:00:50,bridge=vmbr0")
                .set("cores", 2),
        )
        .await
        .unwrap();
    snapshot(&env, 150, "pre-upgrade").await;
    snapshot(&env, 150, "nightly").await;
    // The VM runs: cores, net0 and cipassword wait for a restart (pending changes).
    let before = env.pve.guest(150).await.unwrap();
    assert_eq!(text(&before["pending"]["cores"]), "2", "{before}");
    let before = before["config"].clone();

    // --keep-snapshots refuses, changes nothing and saves nothing.
    env.pve.clear_requests().await;
    let r = env
        .run(&[
            "vm",
            "delete",
            "150",
            "--force",
            "--keep-snapshots",
            "--yes",
        ])
        .expect(1);
    assert!(
        r.stderr.contains("has snapshots (pre-upgrade, nightly)")
            && r.stderr.contains("nothing was deleted"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());
    assert!(backups(&env).is_empty());

    // The confirmation shows everything at stake and where the backup will go; a "no" deletes
    // nothing, saves no backup (no deletion to back up) and is journaled as declined.
    let r = env
        .run_stdin(&["vm", "delete", "150", "--force"], "no\n")
        .expect(4);
    let dir = env
        .path(".local/state/pvectl/backups")
        .display()
        .to_string();
    for line in [
        "WARNING: This will permanently delete VM 150 (web-01)",
        "  - Status: running (will be stopped first)",
        "  - Disks: 32G on local-lvm (scsi0: local-lvm:vm-150-disk-0) will be removed",
        "  - Snapshots: 2 (pre-upgrade, nightly) will be destroyed with it",
        &format!("  - Backup of the configuration: saved in {dir} before deleting"),
        "  - This action cannot be undone",
        "Are you sure you want to delete VM 150? [y/N]: ",
    ] {
        assert!(r.stderr.contains(line), "missing {line:?} in\n{}", r.stderr);
    }
    assert!(env.pve.guest(150).await.is_some());
    for _ in 0..3 {
        env.run_stdin(&["vm", "delete", "150", "--force"], "n\n")
            .expect(4);
    }
    assert!(backups(&env).is_empty(), "{:?}", backups(&env));
    let journal = env.journal();
    assert_eq!(
        journal[0]["outcome"], "refused",
        "--keep-snapshots: {journal:#?}"
    );
    let declined = &journal[1..];
    assert_eq!(declined.len(), 4, "{declined:#?}");
    for op in declined {
        assert_eq!(op["outcome"], "declined", "{op:#}");
        assert_eq!(op["guests"], json!(["vm/150"]));
        assert!(op["reason"].as_str().unwrap().contains("aborted"), "{op:#}");
    }

    // Deleted for real: the backup is written once confirmed, then the guest is gone.
    let r = env
        .run(&["vm", "delete", "150", "--force", "--yes"])
        .expect(0);
    assert!(env.pve.guest(150).await.is_none());
    let listed = backups(&env);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let file = listed[0]["file"].as_str().unwrap().to_string();
    assert!(
        r.stderr
            .contains(&format!("vm/150: configuration saved to {file}")),
        "{}",
        r.stderr
    );

    // The backup holds the config as it was, the secret redacted.
    let saved = backup_file(&file);
    assert_eq!(saved["kind"], "GuestConfigBackup");
    assert_eq!(saved["guest"], "vm/150");
    assert_eq!(saved["reason"], "delete");
    assert_eq!(saved["snapshots"], json!(["pre-upgrade", "nightly"]));
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(!raw.contains("hunter2"), "{raw}");
    let pending = saved["pending"].as_array().unwrap();
    assert!(
        pending
            .iter()
            .any(|p| p["key"] == "cipassword" && p["pending"] == "(redacted)")
            && pending
                .iter()
                .any(|p| p["key"] == "cores" && text(&p["pending"]) == "2"),
        "{pending:?}"
    );
    for (k, v) in before.as_object().unwrap() {
        if k != "cipassword" && k != "digest" {
            let got = &saved["config"][k];
            assert!(
                got == v || got.as_str() == Some(&v.to_string()),
                "{k}: {got} != {v}"
            );
        }
    }

    let r = env.run(&["backup", "list", "--guest", "web-01"]).expect(0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    let name = std::path::Path::new(&file).file_name().unwrap();
    let r = env
        .run(&["backup", "show", &name.to_string_lossy()])
        .expect(0);
    assert!(
        r.stdout.contains("reason: delete") && r.stdout.contains("guest: vm/150"),
        "{}",
        r.stdout
    );
    env.run(&["backup", "show", "nope.json"]).expect(2);

    // The backup re-creates the definition: same settings, a new empty disk of the same size.
    let r = env.run(&["vm", "create", "-f", &file]).expect(0);
    assert!(r.stderr.contains("cipassword not restored"), "{}", r.stderr);
    let again =
        serde_json::to_value(client(&env).qemu("pve1", 150).config().await.unwrap().0).unwrap();
    for k in ["name", "memory", "tags"] {
        assert_eq!(text(&again[k]), text(&before[k]), "{k}");
    }
    // What was pending is part of the definition.
    assert_eq!(text(&again["cores"]), "2");
    assert_eq!(again["net0"], "virtio=BC:24:11:00:00:50,bridge=vmbr0");
    assert!(again.get("cipassword").is_none());
    assert!(
        again["scsi0"].as_str().unwrap().contains("size=32G"),
        "{again}"
    );
    // A container cannot be made from a VM's backup.
    env.run(&["ct", "create", "-f", &file]).expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_refuses_ha_replication_protection_and_templates_with_linked_clones() {
    let env = Env::new().await;
    env.seed().await;
    env.pve
        .add_vm(
            VmSeed::new(9000, "tmpl")
                .template()
                .config("scsi0", "local:9000/base-9000-disk-0.qcow2,size=8G"),
        )
        .await;
    env.pve
        .add_vm(VmSeed::new(300, "clone-1").config(
            "scsi0",
            "local:9000/base-9000-disk-0.qcow2/300/vm-300-disk-0.qcow2,size=8G",
        ))
        .await;
    env.pve
        .add_vm(VmSeed::new(301, "locked").config("protection", 1))
        .await;
    env.pve
        .guest_attrs(151, json!({"ha_state": "started"}))
        .await;
    env.pve
        .answer_get(
            "/cluster/ha/resources",
            json!([{"sid": "vm:151", "state": "started", "type": "vm"}]),
        )
        .await;
    env.pve
        .answer_get(
            "/cluster/replication",
            json!([{"id": "152-0", "guest": 152, "target": "pve2", "type": "local", "jobnum": 0}]),
        )
        .await;
    env.pve
        .answer_get(
            "/cluster/backup",
            json!([{"id": "backup-nightly", "vmid": "200,999", "enabled": 1, "type": "vzdump"}]),
        )
        .await;
    env.pve.clear_requests().await;
    let refused: &[(&[&str], &str)] = &[
        (
            &["vm", "delete", "151", "--yes"],
            "vm/151 is managed by HA (vm:151): Proxmox refuses to delete it; pass --purge",
        ),
        (
            &["vm", "delete", "152", "--force", "--yes"],
            "vm/152 has replication jobs (152-0 (to pve2)): Proxmox refuses to delete it; pass --purge",
        ),
        (
            &["vm", "delete", "9000", "--yes", "--purge"],
            "vm/9000 is a template with linked clones (vm/300 (clone-1))",
        ),
        (
            &["vm", "delete", "301", "--yes"],
            "vm/301 is protected: clear it first with `pvectl vm update 301 --set protection=0`",
        ),
    ];
    for (args, why) in refused {
        let r = env.run(args).expect(1);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
    assert!(env.writes().await.is_empty(), "{:?}", env.writes().await);
    assert!(backups(&env).is_empty());
    // Each refusal is in the journal, with its reason.
    let journal = env.journal();
    assert_eq!(journal.len(), refused.len(), "{journal:#?}");
    for (op, (args, why)) in journal.iter().zip(refused) {
        assert_eq!(op["outcome"], "refused", "{op:#}");
        assert_eq!(op["command"], format!("pvectl {}", args.join(" ")));
        assert!(op["reason"].as_str().unwrap().contains(why), "{op:#}");
    }
    let r = env.run(&["history", "--failed", "-o", "wide"]).expect(0);
    assert!(r.stdout.contains("vm/301 is protected"), "{}", r.stdout);

    // Backup jobs are explained, and what --purge changes.
    let r = env
        .run(&["ct", "delete", "200", "--force", "--dry-run"])
        .expect(0);
    assert!(
        r.stdout.contains(
            "Backup jobs: backup-nightly keep naming VMID 200 (and report it missing); pass --purge"
        ),
        "{}",
        r.stdout
    );
    let r = env
        .run(&["vm", "delete", "151", "--purge", "--dry-run"])
        .expect(0);
    assert!(
        r.stdout
            .contains("HA: managed (vm:151); --purge removes it from HA")
            && r.stdout
                .contains("would DELETE nodes/pve1/qemu/151 purge=1"),
        "{}",
        r.stdout
    );
    // With --purge, Proxmox takes the HA guest out of HA and deletes it.
    env.run(&["vm", "delete", "151", "--purge", "--yes"])
        .expect(0);
    assert!(env.pve.guest(151).await.is_none());
    // Once its clone is gone, the template may go.
    env.run(&["vm", "delete", "300", "--yes"]).expect(0);
    env.run(&["vm", "delete", "9000", "--yes"]).expect(0);
    assert!(env.pve.guest(9000).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_and_backups_before_removing_keys() {
    let env = Env::new().await;
    env.seed().await;
    // fakepve's node pve1 has 8 GiB and 4 CPUs.
    let big = [
        "vm",
        "create",
        "--name",
        "big",
        "--memory",
        "64G",
        "--dry-run",
    ];
    let r = env.run(&big).expect(1);
    assert!(
        r.stderr
            .contains("65536 MiB of memory is more than node pve1 has (8G)")
            && r.stderr.contains("--ignore-capacity"),
        "{}",
        r.stderr
    );
    let r = env
        .run(&[&big[..], &["--ignore-capacity"]].concat())
        .expect(0);
    assert!(r.stderr.contains("warning: 65536 MiB"), "{}", r.stderr);
    env.pve.clear_requests().await;
    let r = env.run(&["vm", "update", "151", "--cores", "16"]).expect(1);
    assert!(
        r.stderr
            .contains("16 vCPUs are more than node pve1 has (4)"),
        "{}",
        r.stderr
    );
    assert!(env.writes().await.is_empty());
    // Shrinking needs no check.
    env.run(&["vm", "update", "151", "--cores", "1"]).expect(0);

    // Removing keys saves the config first; a dry run saves nothing.
    let before = env.pve.guest(151).await.unwrap()["config"].clone();
    env.run(&["vm", "update", "151", "--delete", "tags", "--dry-run"])
        .expect(0);
    assert!(backups(&env).is_empty());
    let r = env
        .run(&["vm", "update", "151", "--delete", "tags"])
        .expect(0);
    assert!(r.stdout.contains("configuration saved to"), "{}", r.stdout);
    let listed = backups(&env);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reason"], "update");
    let saved = backup_file(listed[0]["file"].as_str().unwrap());
    assert_eq!(saved["config"]["tags"], before["tags"]);
    assert!(
        env.pve.guest(151).await.unwrap()["config"]
            .get("tags")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_saves_nothing_when_it_only_removes_its_ownership_line() {
    let env = Env::new().await;
    env.pve
        .add_vm(
            VmSeed::new(9000, "tmpl")
                .template()
                .config("scsi0", "local-lvm:base-9000-disk-0,size=8G")
                .config("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
        )
        .await;
    let manifest = env.path("vm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: kubepve.io/v1alpha1\nkind: ProxmoxVM\nmetadata:\n  name: app\n  \
         namespace: default\nspec:\n  connectionRef:\n    name: pve\n  node: pve1\n  vmid: 170\n  \
         source:\n    clone:\n      templateName: tmpl\n  memory: 1Gi\n",
    )
    .unwrap();
    let r = env
        .run(&["apply", "-f", &manifest.display().to_string()])
        .expect(0);
    // The clone's first config step drops the ownership line from the description: nothing
    // of the user's is lost, so nothing is saved.
    assert!(r.stdout.contains("created"), "{}", r.stdout);
    assert!(!r.stdout.contains("configuration saved"), "{}", r.stdout);
    let guest = env.pve.guest(170).await.unwrap();
    assert!(guest["config"].get("description").is_none(), "{guest}");
    assert!(backups(&env).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_sys_audit_on_root_still_deletes_with_a_warning() {
    let env = Env::new().await;
    env.seed().await;
    // A least-privilege user: guests and nodes, but not `/` (HA resources and backup jobs).
    env.pve.add_user("ops@pve", "not-used-here").await;
    let token = env.pve.create_token("ops@pve", "cli").await;
    for who in ["ops@pve", token.id.as_str()] {
        env.pve
            .grant(who, "/vms", &["VM.Audit", "VM.Allocate", "VM.PowerMgmt"])
            .await;
        env.pve.grant(who, "/nodes", &["Sys.Audit"]).await;
    }
    std::fs::write(env.path("ops-token"), &token.secret).unwrap();
    let (url, ca, secret) = (
        env.pve.url().to_string(),
        env.path("ca.pem").display().to_string(),
        env.path("ops-token").display().to_string(),
    );
    env.run(&[
        "config",
        "set-context",
        "ops",
        "--server",
        &url,
        "--token-id",
        &token.id,
        "--token-secret-file",
        &secret,
        "--ca-file",
        &ca,
    ])
    .expect(0);
    let r = env
        .run(&["--context", "ops", "vm", "delete", "151", "--yes"])
        .expect(0);
    assert!(
        r.stderr
            .contains("warning: cannot check HA resources (needs Sys.Audit on /)")
            && r.stderr
                .contains("warning: cannot check backup jobs (needs Sys.Audit on /)"),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(151).await.is_none());
    assert_eq!(backups(&env).len(), 1);
}
