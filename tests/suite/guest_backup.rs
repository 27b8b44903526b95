//! Configuration backups and deletion pre-flight checks of the operator, against fakepve and
//! the stateful fake Kubernetes API: the ConfigMap a deletion leaves behind (the config before
//! the destroy, secrets redacted, the destroy's UPID, no owner reference, an expiry that
//! `prune` honours), and deletions that stop before the guest is even shut down (snapshots,
//! HA, replication jobs, a template's linked clones) with a condition that says what to do.
//! The last test runs a deletion on a real API server (SKIPPED without one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kubepve::guest::backup::{self, BACKUP_LABEL, EXPIRES_ANNOTATION};
use kubepve_api::ProxmoxVM;
use pve_client::Params;
use pve_testkit::VmSeed;
use serde_json::{Value, json};
use support::guest::{BACKUP_NS, Env, MAX_PASSES, clone_vm, condition, ready, stalled};

/// The backup ConfigMap of `default/web`, in the operator's namespace.
const CM: &str = "kubepve-backup-proxmoxvm-default.web";

/// Deletes `name` and runs reconciles until the object is gone (bounded).
async fn delete_and_release(env: &Env, name: &str) {
    env.kube.delete(name);
    for _ in 0..MAX_PASSES {
        if env.kube.get(name).is_none() {
            return;
        }
        let _ = env.pass::<ProxmoxVM>(name).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} was not released: {:#}", env.kube.get(name).unwrap());
}

/// Runs reconciles of `name` until it is Stalled with `reason`; returns the condition's message.
async fn stalled_with(env: &Env, name: &str, reason: &'static str) -> String {
    let object = env.drive::<ProxmoxVM>(name, stalled(reason)).await.unwrap();
    condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The entries of a backup ConfigMap, parsed, oldest first.
fn entries(cm: &Value) -> Vec<(String, Value)> {
    cm["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_str(v.as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_deletion_leaves_a_backup_config_map_that_outlives_the_object_until_it_expires() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 150, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    // A cloud-init password set in Proxmox by hand: pending, since the VM runs.
    env.pve_client()
        .qemu("pve1", 150)
        .update_config(Params::new().set("cipassword", "hunter2-secret"))
        .await
        .unwrap();
    let before = env.pve_client().qemu("pve1", 150).config().await.unwrap();

    delete_and_release(&env, "web").await;
    assert!(env.pve.guest(150).await.is_none());

    let cm = env.kube.config_map(CM).expect("the backup ConfigMap");
    assert!(!cm.to_string().contains("hunter2"), "{cm:#}");
    assert_eq!(cm["metadata"]["labels"][BACKUP_LABEL], "true");
    assert!(cm["metadata"].get("ownerReferences").is_none());
    assert_eq!(
        cm["metadata"]["annotations"]["kubepve.io/backup-of"],
        "ProxmoxVM/default/web"
    );
    assert_eq!(cm["metadata"]["namespace"], BACKUP_NS);
    let labels = &cm["metadata"]["labels"];
    assert_eq!(labels["kubepve.io/backup-of-namespace"], "default");
    assert_eq!(labels["kubepve.io/backup-of-kind"], "ProxmoxVM");
    assert_eq!(labels["kubepve.io/backup-of-name"], "web");
    assert_eq!(labels["kubepve.io/backup-of-uid"], "uid-web");
    let expires: Timestamp = cm["metadata"]["annotations"][EXPIRES_ANNOTATION]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let left = expires.duration_since(Timestamp::now());
    assert!(
        left > SignedDuration::from_hours(167) && left <= SignedDuration::from_hours(168),
        "default retention 7d: {left:?}"
    );
    let all = entries(&cm);
    assert_eq!(all.len(), 1, "{cm:#}");
    let (key, entry) = &all[0];
    assert!(key.ends_with("-delete"), "{key}");
    assert_eq!(entry["reason"], "delete");
    assert_eq!(entry["vmid"], 150);
    assert_eq!(entry["node"], "pve1");
    let upid = entry["upid"].as_str().unwrap();
    assert!(
        upid.starts_with("UPID:pve1:") && upid.contains(":qmdestroy:150:"),
        "{upid}"
    );
    // The config as it was before the destroy.
    for (k, v) in &before.0 {
        if k != "digest" {
            let want = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            assert_eq!(entry["config"][k], json!(want), "{k}");
        }
    }
    let pending = entry["pending"].as_array().unwrap();
    assert!(
        pending
            .iter()
            .any(|p| p["key"] == "cipassword" && p["pending"] == "(redacted)"),
        "{pending:?}"
    );
    // An Event points at it.
    let saved = env.events_with("ConfigBackedUp");
    assert_eq!(saved.len(), 1, "{saved:#?}");
    let note = saved[0]["note"].as_str().unwrap();
    assert!(note.contains(CM) && note.contains(key.as_str()), "{note}");

    // Kept until it expires, then pruned.
    let client = env.ctx().client.clone();
    let gone = backup::prune(&client, Some(BACKUP_NS), Timestamp::now())
        .await
        .unwrap();
    assert!(gone.is_empty() && env.kube.config_map(CM).is_some());
    let later = Timestamp::now() + SignedDuration::from_hours(169);
    let gone = backup::prune(&client, Some(BACKUP_NS), later)
        .await
        .unwrap();
    assert_eq!(gone, vec![format!("{BACKUP_NS}/{CM}")]);
    assert!(env.kube.config_map(CM).is_none());
}

#[tokio::test]
async fn one_config_map_per_object_name_keeps_the_newest_backups() {
    let env = Env::new("proxmoxvms").await;
    // The first config step of a clone removes only the operator's ownership line: no backup.
    env.kube
        .put(clone_vm("web", 150, json!({"description": "round 0"})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    assert!(env.kube.config_map(CM).is_none());
    delete_and_release(&env, "web").await;
    // The same name, created and deleted again and again: one ConfigMap, the newest ten kept.
    for round in 1..12 {
        let spec = json!({"description": format!("round {round}")});
        env.kube.put(clone_vm("web", 150, spec));
        env.drive::<ProxmoxVM>("web", ready).await.unwrap();
        delete_and_release(&env, "web").await;
    }
    let cm = env.kube.config_map(CM).expect("the backups");
    let all = entries(&cm);
    let kept: Vec<String> = all
        .iter()
        .map(|(_, e)| e["config"]["description"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (2..12).map(|r| format!("round {r}")).collect();
    assert_eq!(kept, want, "oldest first, the two oldest dropped");
    for (key, entry) in &all {
        assert!(key.ends_with("-delete"), "{key}");
        assert!(entry["upid"].as_str().unwrap().contains(":qmdestroy:150:"));
    }
    assert_eq!(env.events_with("ConfigBackedUp").len(), 12);
}

#[tokio::test]
async fn deletions_stop_before_the_shutdown_when_proxmox_would_refuse_or_lose_something() {
    let env = Env::new("proxmoxvms").await;
    // Snapshots: kept, unless the object says they may go.
    env.kube.put(clone_vm("snap", 151, json!({})));
    env.drive::<ProxmoxVM>("snap", ready).await.unwrap();
    let upid = env
        .pve_client()
        .request::<String>(
            "snapshot",
            pve_client::Method::POST,
            "nodes/pve1/qemu/151/snapshot",
            Params::new().set("snapname", "before-upgrade"),
        )
        .await
        .unwrap();
    env.wait(&upid.parse().unwrap()).await;
    env.pve.clear_requests().await;
    env.kube.delete("snap");
    let message = stalled_with(&env, "snap", "HasSnapshots").await;
    assert!(
        message.contains("before-upgrade") && message.contains("kubepve.io/delete-snapshots=true"),
        "{message}"
    );
    env.passes::<ProxmoxVM>("snap", 3).await;
    assert!(
        env.writes_for(151).await.is_empty(),
        "{:#?}",
        env.writes_for(151).await
    );
    assert_eq!(env.pve.guest(151).await.unwrap()["status"], "running");
    assert_eq!(env.events_with("HasSnapshots").len(), 1);
    env.kube.annotate(
        "snap",
        kubepve::guest::preflight::DELETE_SNAPSHOTS_ANNOTATION,
        "true",
    );
    delete_and_release(&env, "snap").await;
    assert!(env.pve.guest(151).await.is_none());

    // HA and replication without purge: Proxmox would refuse; with purge it goes.
    env.kube.put(clone_vm(
        "ha",
        152,
        json!({"deleteOptions": {"purge": false}}),
    ));
    env.drive::<ProxmoxVM>("ha", ready).await.unwrap();
    env.pve
        .guest_attrs(152, json!({"ha_state": "started"}))
        .await;
    env.pve
        .answer_get(
            "/cluster/replication",
            json!([{"id": "152-0", "guest": 152, "target": "pve2", "type": "local"}]),
        )
        .await;
    env.pve.clear_requests().await;
    env.kube.delete("ha");
    let message = stalled_with(&env, "ha", "HAManaged").await;
    assert!(
        message.contains("HA (state started)") && message.contains("deleteOptions.purge"),
        "{message}"
    );
    env.pve.guest_attrs(152, json!({"ha_state": null})).await;
    let message = stalled_with(&env, "ha", "ReplicationJobs").await;
    assert!(message.contains("152-0"), "{message}");
    assert!(env.writes_for(152).await.is_empty());
    env.kube
        .edit_spec("ha", |spec| spec["deleteOptions"]["purge"] = json!(true));
    delete_and_release(&env, "ha").await;
    assert!(env.pve.guest(152).await.is_none());
    env.pve
        .answer_get("/cluster/replication", Value::Null)
        .await;

    // A template of this object's with a linked clone: deleting it would break the clone.
    env.pve
        .add_vm(
            VmSeed::new(160, "golden")
                .template()
                .config("tags", "kubepve;kubepve-owner-uid-golden")
                .config("scsi0", "local-lvm:base-160-disk-0,size=8G"),
        )
        .await;
    env.pve
        .add_vm(
            VmSeed::new(161, "golden-clone")
                .config("scsi0", "local-lvm:base-160-disk-0/vm-161-disk-0,size=8G"),
        )
        .await;
    let mut golden = clone_vm("golden", 160, json!({}));
    golden["metadata"]["finalizers"] = json!(["kubepve.io/finalizer"]);
    golden["status"] = json!({"vmid": 160});
    env.kube.put(golden);
    env.pve.clear_requests().await;
    env.kube.delete("golden");
    let message = stalled_with(&env, "golden", "LinkedClones").await;
    assert!(
        message.contains("template 160") && message.contains("161"),
        "{message}"
    );
    assert!(env.writes_for(160).await.is_empty());
    // Once the clone is gone, the template goes.
    let c = env.pve_client();
    env.wait(
        &c.qemu("pve1", 161)
            .delete(Default::default())
            .await
            .unwrap(),
    )
    .await;
    delete_and_release(&env, "golden").await;
    assert!(env.pve.guest(160).await.is_none());
}

#[tokio::test]
async fn real_apiserver_backup_outlives_the_deleted_object() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
    use kube::api::{Api, DeleteParams};
    use kubepve_api::ProxmoxConnection;
    use support::apiserver::apply;

    let Some(env) = support::apiserver::TestEnv::start("real-apiserver config backups").await
    else {
        return;
    };
    let client = env.client.clone();
    env.install_crds().await;
    let ns = format!("kubepve-backup-{}", std::process::id());
    let backup_ns = format!("{ns}-operator");
    for name in [&ns, &backup_ns] {
        apply(
            &Api::<Namespace>::all(client.clone()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .await;
    }
    let (pve, token) = support::lab::sample_lab(0.01).await;
    apply(
        &Api::<Secret>::namespaced(client.clone(), &ns),
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pve-creds"},
            "stringData": {"tokenId": token.id, "tokenSecret": token.secret},
        }),
    )
    .await;
    let conns: Api<ProxmoxConnection> = Api::namespaced(client.clone(), &ns);
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), &ns);
    apply(
        &conns,
        json!({
            "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
            "metadata": {"name": "pve"},
            "spec": {"endpoint": pve.url(), "credentialsSecretRef": {"name": "pve-creds"},
                     "tls": {"caBundle": pve.ca_pem()}},
        }),
    )
    .await;
    let mut web = clone_vm("web", 150, json!({}));
    web["metadata"].as_object_mut().unwrap().remove("namespace");
    apply(&vms, web).await;

    let operator = support::apiserver::InProcessOperator::with_backups_in(&client, &ns, &backup_ns);
    let limit = Instant::now() + Duration::from_secs(120);
    while !vms.get_opt("web").await.unwrap().is_some_and(|o| {
        o.status.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    }) {
        assert!(Instant::now() < limit, "web not Ready:\n{}", env.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    vms.delete("web", &DeleteParams::default()).await.unwrap();
    while vms.get_opt("web").await.unwrap().is_some() {
        assert!(Instant::now() < limit, "web not deleted:\n{}", env.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(pve.guest(150).await.is_none());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &backup_ns);
    let cm_name = backup::config_map_name("ProxmoxVM", &ns, "web");
    let cm = cms
        .get(&cm_name)
        .await
        .expect("the backup survives the object, in the operator's namespace");
    assert!(cm.metadata.owner_references.is_none_or(|o| o.is_empty()));
    let data = cm.data.unwrap_or_default();
    let entry: Value = serde_json::from_str(data.values().next().unwrap()).unwrap();
    assert_eq!(entry["reason"], "delete");
    assert!(entry["upid"].as_str().unwrap().contains(":qmdestroy:150:"));
    let later = Timestamp::now() + SignedDuration::from_hours(169);
    let gone = backup::prune(&client, Some(&backup_ns), later)
        .await
        .unwrap();
    assert_eq!(gone, vec![format!("{backup_ns}/{cm_name}")]);

    assert!(support::apiserver::delete_connections(&client, &ns).await);
    operator.stop().await;
    for name in [&ns, &backup_ns] {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }
}
