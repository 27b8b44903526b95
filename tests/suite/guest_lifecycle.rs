//! Guest deletion scenarios against fakepve and a stateful fake Kubernetes API: the finalizer
//! (stop, then destroy, and only then release the object), a guest that is already gone,
//! deletionPolicy Orphan, and Proxmox protection blocking a deletion visibly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kubepve_api::ProxmoxVM;
use pve_client::{DeleteOptions, GuestKind, Params};
use serde_json::{Value, json};
use support::guest::{
    Env, MAX_PASSES, clone_vm, condition, fast_settings, gone, ready, stalled, tags,
};

/// Deletes `name` and runs reconciles until it is gone, checking after every pass that the
/// object never disappears while its guest `vmid` still exists in Proxmox.
async fn delete_and_release(env: &Env, name: &str, vmid: u32) {
    env.kube.delete(name);
    for _ in 0..MAX_PASSES {
        let object = env.kube.get(name);
        let guest = env.pve.guest(vmid).await;
        if object.is_none() {
            assert!(
                guest.is_none(),
                "{name} was released while guest {vmid} still exists: {guest:#?}"
            );
            return;
        }
        let _ = env.pass::<ProxmoxVM>(name).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{name} was not released: {:#}", env.kube.get(name).unwrap());
}

fn position(requests: &[pve_testkit::RecordedRequest], method: &str, suffix: &str) -> usize {
    requests
        .iter()
        .position(|r| r.method == method && r.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {method} ...{suffix} in {requests:#?}"))
}

#[tokio::test]
async fn deleting_a_running_guest_shuts_it_down_then_destroys_it_then_releases_the_object() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 150, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    assert_eq!(env.pve.guest(150).await.unwrap()["status"], "running");
    env.pve.clear_requests().await;

    delete_and_release(&env, "web", 150).await;

    assert!(env.pve.guest(150).await.is_none());
    let requests = env.pve.requests().await;
    let shutdown = position(&requests, "POST", "/qemu/150/status/shutdown");
    let destroy = position(&requests, "DELETE", "/qemu/150");
    assert!(shutdown < destroy, "shut down before destroying");
    assert_eq!(env.count("DELETE", "/qemu/150").await, 1);
    assert_eq!(env.count("POST", "/qemu/150/status/stop").await, 0);
    let started: Vec<Value> = env.events_with("TaskStarted");
    assert!(
        started.iter().any(|e| e["action"] == "delete"),
        "{started:#?}"
    );
    // The template is not touched.
    assert!(env.pve.guest(9000).await.is_some());
}

#[tokio::test]
async fn a_guest_already_gone_from_proxmox_is_a_successful_deletion() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 152, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    // Someone destroys the guest in Proxmox.
    let guest = env.pve_client().guest(GuestKind::Qemu, "pve1", 152);
    env.wait(&guest.stop().await.unwrap()).await;
    env.wait(&guest.delete(DeleteOptions::default()).await.unwrap())
        .await;
    assert!(env.pve.guest(152).await.is_none());
    env.pve.clear_requests().await;

    env.kube.delete("web");
    env.drive::<ProxmoxVM>("web", gone).await;
    assert!(
        env.writes_for(152).await.is_empty(),
        "{:#?}",
        env.writes_for(152).await
    );
}

#[tokio::test]
async fn deletion_policy_orphan_leaves_the_guest_without_the_ownership_marks() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm(
        "keep",
        153,
        json!({"deletionPolicy": "Orphan", "tags": ["keep"], "description": "kept on purpose"}),
    ));
    env.drive::<ProxmoxVM>("keep", ready).await.unwrap();
    let before = env.pve.guest(153).await.unwrap();
    assert!(tags(&before).contains(&"kubepve-owner-uid-keep".to_string()));
    env.pve.clear_requests().await;

    env.kube.delete("keep");
    env.drive::<ProxmoxVM>("keep", gone).await;

    let guest = env
        .pve
        .guest(153)
        .await
        .expect("the guest stays in Proxmox");
    assert_eq!(guest["status"], "running", "{guest:#}");
    assert_eq!(tags(&guest), vec!["keep".to_string()], "{guest:#}");
    let description = guest["config"]["description"].as_str().unwrap_or_default();
    assert!(!description.contains("kubepve.io/owner"), "{guest:#}");
    assert!(description.contains("kept on purpose"), "{guest:#}");
    // Only the marks were changed: no power or destroy request.
    for r in env.writes_for(153).await {
        assert!(
            r.method == "PUT" && r.path.ends_with("/qemu/153/config"),
            "unexpected {} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(env.count("DELETE", "/qemu/153").await, 0);
}

#[tokio::test]
async fn proxmox_protection_blocks_deletion_visibly_until_it_is_cleared() {
    let env = Env::new("proxmoxvms").await;
    env.kube
        .put(clone_vm("prot", 154, json!({"protection": true})));
    env.drive::<ProxmoxVM>("prot", ready).await.unwrap();
    let guest = env.pve.guest(154).await.unwrap();
    assert_eq!(
        guest["config"]["protection"].to_string().trim_matches('"'),
        "1"
    );
    env.pve.clear_requests().await;

    env.kube.delete("prot");
    env.drive::<ProxmoxVM>("prot", stalled("DeletionProtected"))
        .await
        .unwrap();
    env.passes::<ProxmoxVM>("prot", 5).await;
    let object = env.kube.get("prot").expect("the object stays");
    assert_eq!(
        object["metadata"]["finalizers"],
        json!(["kubepve.io/finalizer"])
    );
    let stalled_condition = condition(&object, "Stalled");
    assert_eq!(stalled_condition["reason"], "DeletionProtected");
    assert!(
        stalled_condition["message"]
            .as_str()
            .unwrap()
            .contains("protection"),
        "{stalled_condition:#}"
    );
    assert_eq!(condition(&object, "Ready")["status"], "False");
    let guest = env.pve.guest(154).await.expect("the guest stays");
    assert_eq!(guest["status"], "running");
    assert!(
        env.writes_for(154).await.is_empty(),
        "{:#?}",
        env.writes_for(154).await
    );
    let warnings = env.events_with("DeletionProtected");
    assert_eq!(
        warnings.len(),
        1,
        "one Warning, not one per pass: {warnings:#?}"
    );
    assert_eq!(warnings[0]["type"], "Warning");

    // Clearing the protection in Proxmox lets the deletion proceed.
    env.pve_client()
        .guest(GuestKind::Qemu, "pve1", 154)
        .update_config(Params::new().set("delete", "protection"))
        .await
        .unwrap();
    env.drive::<ProxmoxVM>("prot", gone).await;
    assert!(env.pve.guest(154).await.is_none());
}

#[tokio::test]
async fn setting_spec_protection_false_lets_a_blocked_deletion_proceed() {
    let env = Env::new("proxmoxvms").await;
    env.kube
        .put(clone_vm("prot", 155, json!({"protection": true})));
    env.drive::<ProxmoxVM>("prot", ready).await.unwrap();
    env.kube.delete("prot");
    env.drive::<ProxmoxVM>("prot", stalled("DeletionProtected"))
        .await
        .unwrap();
    assert!(env.pve.guest(155).await.is_some());

    // What the Stalled message advises.
    env.kube
        .edit_spec("prot", |s| s["protection"] = json!(false));
    delete_and_release(&env, "prot", 155).await;
    assert!(env.pve.guest(155).await.is_none());
}

#[tokio::test]
async fn deletion_never_acts_on_a_stale_read_when_the_vmid_was_reused_by_someone_else() {
    // A long cache time for /cluster/resources, so that the operator's last read is stale.
    let poll = std::time::Duration::from_secs(30);
    let env = Env::with_settings("proxmoxvms", fast_settings(), poll).await;
    env.kube
        .put(clone_vm("web", 156, json!({"runStrategy": "Halted"})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    env.passes::<ProxmoxVM>("web", 2).await;
    // Behind the operator's back: the guest is destroyed and someone else creates 156.
    let guest = env.pve_client().guest(GuestKind::Qemu, "pve1", 156);
    env.wait(&guest.delete(DeleteOptions::default()).await.unwrap())
        .await;
    env.pve
        .add_vm(pve_testkit::VmSeed::new(156, "someone-else").config("tags", "prod"))
        .await;
    env.pve.clear_requests().await;

    env.kube.delete("web");
    env.drive::<ProxmoxVM>("web", gone).await;
    let foreign = env.pve.guest(156).await.expect("the foreign guest stays");
    assert_eq!(tags(&foreign), vec!["prod".to_string()]);
    let writes = env.writes_for(156).await;
    assert!(writes.is_empty(), "{writes:#?}");
}

#[tokio::test]
async fn a_guest_that_ignores_shutdown_is_stopped_after_the_timeout_then_destroyed() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm(
        "stubborn",
        157,
        json!({"shutdown": {"timeoutSeconds": 5, "forceAfterTimeout": true}}),
    ));
    env.drive::<ProxmoxVM>("stubborn", ready).await.unwrap();
    env.pve.guest_attrs(157, json!({"acpi": false})).await;
    env.pve.clear_requests().await;

    delete_and_release(&env, "stubborn", 157).await;
    let shutdowns: Vec<_> = env
        .pve
        .requests()
        .await
        .into_iter()
        .filter(|r| r.path.ends_with("/qemu/157/status/shutdown"))
        .collect();
    assert_eq!(shutdowns.len(), 1, "{shutdowns:#?}");
    assert!(shutdowns[0].body.contains("forceStop=1"), "{shutdowns:#?}");
    assert!(shutdowns[0].body.contains("timeout=5"), "{shutdowns:#?}");
    assert_eq!(env.count("DELETE", "/qemu/157").await, 1);
}

#[tokio::test]
async fn a_failed_shutdown_keeps_the_finalizer_and_says_why() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm(
        "stubborn",
        158,
        json!({"shutdown": {"timeoutSeconds": 5, "forceAfterTimeout": false}}),
    ));
    env.drive::<ProxmoxVM>("stubborn", ready).await.unwrap();
    env.pve.guest_attrs(158, json!({"acpi": false})).await;

    env.kube.delete("stubborn");
    let failed =
        |o: Option<&Value>| o.is_some_and(|o| condition(o, "Ready")["reason"] == "TaskFailed");
    let object = env.drive::<ProxmoxVM>("stubborn", failed).await.unwrap();
    let message = condition(&object, "Ready")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("got timeout"),
        "Proxmox's task error: {message}"
    );
    assert_eq!(
        object["metadata"]["finalizers"],
        json!(["kubepve.io/finalizer"])
    );
    assert_eq!(env.pve.guest(158).await.unwrap()["status"], "running");
    assert_eq!(env.count("DELETE", "/qemu/158").await, 0);
    let failures = env.events_with("TaskFailed");
    assert!(
        failures
            .iter()
            .any(|e| e["type"] == "Warning" && e["action"] == "qmshutdown"),
        "{failures:#?}"
    );
}

#[tokio::test]
async fn a_spec_that_no_longer_converts_never_blocks_the_deletion_of_its_guest() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 156, json!({})));
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    // 1.5Mi passes the schema but is not a whole number of MiB: the spec stalls...
    env.kube.edit_spec("web", |s| s["memory"] = json!("1.5Mi"));
    let object = env
        .drive::<ProxmoxVM>("web", stalled("InvalidSpec"))
        .await
        .unwrap();
    assert!(
        condition(&object, "Stalled")["message"]
            .as_str()
            .unwrap()
            .contains("memory")
    );
    // ...but deleting the object still destroys the guest and releases the object.
    delete_and_release(&env, "web", 156).await;
    assert!(env.pve.guest(156).await.is_none());
}
