//! Guest reconcile scenarios about not doing harm: a foreign guest with the requested VMID, VMID
//! allocation, an operator killed in the middle of a create, values only Proxmox rejects, a
//! change Proxmox accepts but does not apply (the hot-loop guard), and secrets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use kubepve_api::ProxmoxVM;
use pve_testkit::VmSeed;
use serde_json::{Value, json};
use support::guest::{
    Env, MAX_PASSES, POLL_INTERVAL, clone_vm, condition, fast_settings, ready, stalled, tags, vm,
};

/// A clone without spec.vmid.
fn clone_vm_without_vmid(name: &str) -> Value {
    let mut object = clone_vm(name, 0, json!({}));
    object["spec"].as_object_mut().unwrap().remove("vmid");
    object
}

fn vmid_of(object: &Value) -> u32 {
    u32::try_from(object["status"]["vmid"].as_u64().expect("status.vmid")).unwrap()
}

#[tokio::test]
async fn an_unmarked_guest_at_the_requested_vmid_is_foreign_and_left_untouched() {
    let env = Env::new("proxmoxvms").await;
    env.pve
        .add_vm(
            VmSeed::new(300, "someone-else")
                .running()
                .config("tags", "prod")
                .config("cores", 1),
        )
        .await;
    env.pve.clear_requests().await;
    env.kube.put(clone_vm("web", 300, json!({})));

    let object = env
        .drive::<ProxmoxVM>("web", stalled("ForeignGuest"))
        .await
        .unwrap();
    env.passes::<ProxmoxVM>("web", 5).await;
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("300"), "{message}");
    assert_eq!(condition(&object, "Ready")["status"], "False");
    assert_eq!(object["status"]["phase"], "Failed");
    let warnings = env.events_with("ForeignGuest");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["type"], "Warning");

    let writes = env.writes_for(300).await;
    assert!(
        writes.is_empty(),
        "writes reached the foreign guest: {writes:#?}"
    );
    let guest = env.pve.guest(300).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert_eq!(tags(&guest), vec!["prod".to_string()]);
    assert_eq!(env.pve.count("POST", "/clone").await, 0);
}

#[tokio::test]
async fn an_allocated_vmid_is_recorded_in_status_before_anything_is_created() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm_without_vmid("auto"));
    // While the VMID cannot be recorded, nothing is created.
    env.kube.fail_status_writes(true);
    env.passes::<ProxmoxVM>("auto", 5).await;
    assert_eq!(env.pve.count("POST", "/clone").await, 0);

    env.kube.fail_status_writes(false);
    let object = env.drive::<ProxmoxVM>("auto", ready).await.unwrap();
    let vmid = vmid_of(&object);
    assert!(vmid >= 100 && vmid != 9000, "{vmid}");
    let guest = env
        .pve
        .guest(vmid)
        .await
        .expect("the guest has the recorded VMID");
    assert!(tags(&guest).contains(&"kubepve-owner-uid-auto".to_string()));
    assert_eq!(env.creates_for(vmid).await.len(), 1);
    assert_eq!(env.pve.count("POST", "/clone").await, 1);
    // The first status write that names a VMID came before the clone finished: it is the
    // allocation, not the clone's end.
    let first = env
        .kube
        .mock
        .matching("PATCH", "/status")
        .into_iter()
        .find(|r| !r.body["status"]["vmid"].is_null())
        .unwrap();
    assert!(first.body["status"]["currentTask"].is_null(), "{first:#?}");
    assert!(first.body["status"]["lastTask"].is_null(), "{first:#?}");
}

#[tokio::test]
async fn an_allocated_vmid_taken_by_a_foreign_guest_is_replaced_not_a_conflict() {
    let env = Env::new("proxmoxvms").await;
    // A previous pass allocated 101 and recorded it; then someone else created 101.
    let mut object = clone_vm_without_vmid("auto");
    object["status"] = json!({"vmid": 101});
    env.kube.put(object);
    env.pve
        .add_vm(VmSeed::new(101, "raced").config("tags", "other"))
        .await;
    env.pve.clear_requests().await;

    let mut reasons = Vec::new();
    let object = env
        .drive_watching::<ProxmoxVM>("auto", ready, |o| {
            reasons.push(condition(o, "Stalled")["reason"].clone())
        })
        .await
        .unwrap();
    assert!(
        !reasons.iter().any(|r| r == "Conflict"),
        "reported a Conflict: {reasons:?}"
    );
    let vmid = vmid_of(&object);
    assert_ne!(vmid, 101);
    let guest = env.pve.guest(vmid).await.unwrap();
    assert!(tags(&guest).contains(&"kubepve-owner-uid-auto".to_string()));
    assert!(env.writes_for(101).await.is_empty());
    assert_eq!(tags(&env.pve.guest(101).await.unwrap()), vec!["other"]);
}

#[tokio::test]
async fn an_operator_restarted_while_its_clone_runs_resumes_from_the_upid() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 160, json!({})));
    let mut cloning = None;
    for _ in 0..MAX_PASSES {
        let _ = env.pass::<ProxmoxVM>("web").await;
        let object = env.kube.get("web").unwrap();
        if object["status"]["currentTask"]["type"] == "qmclone" {
            cloning = Some(object);
            break;
        }
    }
    let object = cloning.expect("status.currentTask held the clone's UPID");
    let upid = object["status"]["currentTask"]["upid"]
        .as_str()
        .unwrap()
        .to_string();

    env.restart_operator();
    let object = env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    assert_eq!(env.creates_for(160).await.len(), 1);
    assert_eq!(env.pve.count("POST", "/qemu/9000/clone").await, 1);
    let guest = env.pve.guest(160).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert!(tags(&guest).contains(&"kubepve-owner-uid-web".to_string()));
    // The clone's end was read from the recorded UPID and told.
    let ended = env.events_with("TaskSucceeded");
    assert!(
        ended
            .iter()
            .any(|e| e["note"].as_str().unwrap_or_default().contains("qmclone")),
        "{ended:#?}"
    );
    assert_ne!(object["status"]["lastTask"]["upid"], upid.as_str());
}

#[tokio::test]
async fn an_operator_killed_before_recording_its_clone_does_not_clone_twice() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 161, json!({})));
    // The clone request goes out, but the UPID never reaches the status.
    env.kube.fail_status_writes(true);
    let _ = env.pass::<ProxmoxVM>("web").await;
    assert_eq!(env.creates_for(161).await.len(), 1);
    assert!(env.kube.get("web").unwrap()["status"].is_null());

    env.restart_operator();
    env.kube.fail_status_writes(false);
    env.drive::<ProxmoxVM>("web", ready).await.unwrap();
    assert_eq!(env.creates_for(161).await.len(), 1);
    let guest = env.pve.guest(161).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert!(tags(&guest).contains(&"kubepve-owner-uid-web".to_string()));
}

#[tokio::test]
async fn an_operator_restarted_while_its_container_is_created_resumes_from_the_upid() {
    let env = Env::new("proxmoxcontainers").await;
    let template = "alpine-3.20-default_20240908_amd64.tar.xz";
    env.pve
        .store_file("local", template, 3 * 1024 * 1024, "vztmpl")
        .await;
    env.kube.put(support::guest::ct(
        "small",
        json!({
            "vmid": 210,
            "ostemplate": format!("local:vztmpl/{template}"),
            "rootfs": {"storage": "local-lvm", "size": "2Gi"},
        }),
    ));
    let mut creating = false;
    for _ in 0..MAX_PASSES {
        let _ = env.pass::<kubepve_api::ProxmoxContainer>("small").await;
        let object = env.kube.get("small").unwrap();
        if object["status"]["currentTask"]["type"] == "vzcreate" {
            creating = true;
            break;
        }
    }
    assert!(creating, "status.currentTask held the vzcreate UPID");

    env.restart_operator();
    env.drive::<kubepve_api::ProxmoxContainer>("small", ready)
        .await
        .unwrap();
    assert_eq!(env.creates_for(210).await.len(), 1);
    assert_eq!(env.pve.count("POST", "/nodes/pve1/lxc").await, 1);
    let guest = env.pve.guest(210).await.unwrap();
    assert_eq!(guest["status"], "running");
    assert!(tags(&guest).contains(&"kubepve-owner-uid-small".to_string()));
}

/// A blank VM whose create only Proxmox can refuse.
fn blank_vm(name: &str, vmid: u32, extra: Value) -> Value {
    let mut spec = json!({
        "vmid": vmid,
        "source": {"blank": {}},
        "memory": "1Gi",
        "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "4Gi"}],
        "networks": [{"slot": "net0", "bridge": "vmbr0"}],
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    vm(name, spec)
}

/// The first backoff delay in the rejection scenarios: far longer than 20 quick passes take.
const BACKOFF: Duration = Duration::from_secs(2);

fn slow_backoff() -> kubepve::context::Settings {
    let mut settings = fast_settings();
    settings.backoff = (BACKOFF, BACKOFF * 10);
    settings
}

#[tokio::test]
async fn a_value_only_proxmox_rejects_stalls_with_its_message_and_backs_off() {
    let env = Env::with_settings("proxmoxvms", slow_backoff(), POLL_INTERVAL).await;
    env.kube.put(blank_vm(
        "bad",
        170,
        json!({"extraConfig": {"bios": "uefi"}}),
    ));
    let object = env
        .drive::<ProxmoxVM>("bad", stalled("ProxmoxRejected"))
        .await
        .unwrap();
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("bios"), "Proxmox's message: {message}");
    assert!(message.contains("uefi"), "Proxmox's message: {message}");
    assert_eq!(condition(&object, "Ready")["status"], "False");
    let warnings = env.events_with("ProxmoxRejected");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["type"], "Warning");

    // Reconciles keep coming (status writes, resyncs): no request until the backoff ends.
    env.passes::<ProxmoxVM>("bad", 20).await;
    assert_eq!(env.creates_for(170).await.len(), 1);
    let object = env.kube.get("bad").unwrap();
    assert_eq!(condition(&object, "Stalled")["message"], message.as_str());
    tokio::time::sleep(BACKOFF + Duration::from_millis(100)).await;
    env.passes::<ProxmoxVM>("bad", 20).await;
    assert_eq!(
        env.creates_for(170).await.len(),
        2,
        "one retry after the backoff"
    );
    assert!(env.pve.guest(170).await.is_none(), "nothing half-created");

    // Fixing the spec converges at once.
    env.kube.edit_spec("bad", |s| {
        s.as_object_mut().unwrap().remove("extraConfig");
    });
    env.drive::<ProxmoxVM>("bad", ready).await.unwrap();
    assert_eq!(env.pve.guest(170).await.unwrap()["status"], "running");
}

#[tokio::test]
async fn an_unknown_storage_stalls_without_creating_anything() {
    let env = Env::with_settings("proxmoxvms", slow_backoff(), POLL_INTERVAL).await;
    env.kube.put(vm(
        "nostore",
        json!({
            "source": {"blank": {}},
            "vmid": 171,
            "memory": "1Gi",
            "disks": [{"slot": "scsi0", "storage": "nosuch", "size": "4Gi"}],
        }),
    ));
    let object = env
        .drive::<ProxmoxVM>("nostore", stalled("ProxmoxRejected"))
        .await
        .unwrap();
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("storage 'nosuch'"),
        "Proxmox's message: {message}"
    );
    // Not one request per pass: the refused create waits for its backoff.
    env.passes::<ProxmoxVM>("nostore", 20).await;
    assert_eq!(env.creates_for(171).await.len(), 1);
    assert_eq!(env.events_with("ProxmoxRejected").len(), 1);
    let object = env.kube.get("nostore").unwrap();
    assert_eq!(condition(&object, "Stalled")["reason"], "ProxmoxRejected");
    assert!(env.pve.guest(171).await.is_none(), "nothing half-created");
}

#[tokio::test]
async fn a_disk_resize_that_does_not_stick_ends_not_converging_after_bounded_tries() {
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm(
        "big",
        180,
        json!({"disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "16Gi"}]}),
    ));
    let object = env
        .drive::<ProxmoxVM>("big", stalled("NotConverging"))
        .await
        .unwrap();
    let resizes = env.pve.count("PUT", "/qemu/180/resize").await;
    assert!((1..=3).contains(&resizes), "{resizes} resize requests");
    env.passes::<ProxmoxVM>("big", 20).await;
    assert_eq!(env.pve.count("PUT", "/qemu/180/resize").await, resizes);
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("resize scsi0"), "{message}");
    // fakepve accepts the resize without growing the disk: it is still the template's size.
    let guest = env.pve.guest(180).await.expect("the guest stays");
    let scsi0 = guest["config"]["scsi0"].as_str().unwrap();
    assert!(scsi0.contains("size=8G"), "{scsi0}");
    assert_eq!(condition(&object, "Ready")["status"], "False");
    // A spec change tries again.
    env.kube.edit_spec("big", |s| {
        s["disks"][0]["size"] = json!("20Gi");
    });
    env.passes::<ProxmoxVM>("big", 3).await;
    assert!(env.pve.count("PUT", "/qemu/180/resize").await > resizes);
}

#[tokio::test]
async fn the_cloud_init_password_never_leaks_into_status_events_or_conditions() {
    let env = Env::new("proxmoxvms").await;
    let password = "Tr0ub4dor-and-3";
    env.kube.put_secret("ci", &[("password", password)]);
    let cloud_init =
        json!({"user": "debian", "passwordSecretRef": {"name": "ci", "key": "password"}});
    // Rejected by Proxmox (with the password among the parameters sent) ...
    env.kube.put(blank_vm(
        "sec",
        190,
        json!({"extraConfig": {"bios": "uefi"}, "cloudInit": cloud_init.clone()}),
    ));
    env.drive::<ProxmoxVM>("sec", stalled("ProxmoxRejected"))
        .await
        .unwrap();
    env.assert_no_leak("sec", password);
    // ... then created and converged ...
    env.kube.edit_spec("sec", |s| {
        s.as_object_mut().unwrap().remove("extraConfig");
    });
    env.drive::<ProxmoxVM>("sec", ready).await.unwrap();
    env.assert_no_leak("sec", password);
    assert!(
        env.pve.guest(190).await.unwrap()["config"]["cipassword"].is_string(),
        "the password was sent to Proxmox"
    );
    // ... then the password changes (a config update) ...
    env.kube
        .put_secret("ci", &[("password", "An0ther-Secret-9")]);
    env.kube
        .edit_spec("sec", |s| s["tags"] = json!(["rotated"]));
    env.drive::<ProxmoxVM>("sec", support::guest::ready_now)
        .await
        .unwrap();
    env.assert_no_leak("sec", password);
    env.assert_no_leak("sec", "An0ther-Secret-9");
    // ... and deleted.
    env.kube.delete("sec");
    env.drive::<ProxmoxVM>("sec", support::guest::gone).await;
    env.assert_no_leak("sec", password);
}
