//! ProxmoxVMSet scenarios: the set controller and the guest controller against the stateful
//! fake Kubernetes API (owner references, garbage collection, the scale subresource) and
//! fakepve. A set scales 0 -> 3 -> 1 (through `kubectl scale`'s subresource) with the right
//! members and guests left; a template change that needs a restart rolls through the members
//! within maxUnavailable while a live change reaches every member at once; an operator restart
//! mid-scale leaves exactly the right members (never a second member or guest, never more
//! than replicas guests); deleting the set cascades to its members and their guests; a
//! selector the template does not meet stalls; a terminating namespace stops creation quietly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use kube::api::{Api, Patch, PatchParams};
use kubepve_api::ProxmoxVMSet;
use pve_client::GuestKind;
use serde_json::{Value, json};
use support::guest::{condition, condition_message};
use support::vmsets::{SetEnv, settled, vmset};

fn names(members: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = members
        .iter()
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_set_scales_0_to_3_to_1_with_the_right_members_and_guests() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 0, json!({})));
    let set = env.converge("web", settled(0)).await;
    assert!(env.members().is_empty());
    assert_eq!(set["status"]["labelSelector"], "app=web");

    // 0 -> 3.
    env.sets.edit_spec("web", |s| s["replicas"] = json!(3));
    env.converge("web", settled(3)).await;
    assert_eq!(env.members(), ["web-0", "web-1", "web-2"]);
    assert_eq!(env.guests().await, [300, 301, 302]);
    let member = env.env.kube.get("web-1").unwrap();
    let owner = &member["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ProxmoxVMSet");
    assert_eq!(owner["uid"], "uid-web");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    assert_eq!(member["metadata"]["labels"]["app"], "web");
    assert_eq!(
        member["metadata"]["labels"]["kubepve.io/vmset-ordinal"],
        "1"
    );
    assert_eq!(member["spec"]["vmid"], 301);
    assert!(
        member["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("kubepve.io/finalizer")),
        "members keep ProxmoxVM semantics: {member:#}"
    );
    assert_eq!(env.events_with("ScaledUp").len(), 3);

    // 3 -> 1 through the scale subresource, as `kubectl scale pvmset web --replicas 1` does.
    let api: Api<ProxmoxVMSet> = Api::default_namespaced(env.env.kube.mock.client.clone());
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(scale.status.as_ref().unwrap().replicas, 3);
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let set = env
        .converge("web", |s| settled(1)(s) && env.members() == ["web-0"])
        .await;
    assert_eq!(set["status"]["replicas"], 1);
    assert_eq!(
        env.guests().await,
        [300],
        "the highest ordinals' guests went"
    );
    let downs: Vec<String> = env
        .events_with("ScaledDown")
        .iter()
        .map(|e| e["note"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(downs, ["deleted member web-2", "deleted member web-1"]);
}

#[tokio::test]
async fn a_template_change_rolls_through_the_members_within_max_unavailable() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 3, json!({})));
    env.converge("web", settled(3)).await;
    let first_hash = env.sets.get("web").unwrap()["status"]["currentTemplateHash"].clone();

    // A live change (tags) reaches every member in one set pass, with no restart.
    env.sets
        .edit_spec("web", |s| s["template"]["spec"]["tags"] = json!(["front"]));
    env.set_pass("web").await;
    for m in env.member_objects() {
        assert_eq!(
            m["spec"]["tags"],
            json!(["front"]),
            "{}",
            m["metadata"]["name"]
        );
        assert!(
            m["metadata"]["annotations"]
                .get("kubepve.io/restartedAt")
                .is_none()
        );
    }
    env.converge("web", settled(3)).await;
    assert!(env.events_with("RollingUpdate").is_empty());

    // Memory needs a restart: one member at a time (maxUnavailable 1), highest ordinal first.
    env.sets
        .edit_spec("web", |s| s["template"]["spec"]["memory"] = json!("4Gi"));
    let at_most_one_down = |_: &Value, members: &[Value]| {
        let down: Vec<String> = members
            .iter()
            .filter(|m| {
                let restart = &m["metadata"]["annotations"]["kubepve.io/restartedAt"];
                let restarting = !restart.is_null() && *restart != m["status"]["restartedAt"];
                restarting || condition(m, "Ready")["status"] != "True"
            })
            .map(|m| {
                format!(
                    "{} (ready {}, restartedAt {} / {}, memory {}, generation {} / {})",
                    m["metadata"]["name"],
                    condition(m, "Ready"),
                    m["metadata"]["annotations"]["kubepve.io/restartedAt"],
                    m["status"]["restartedAt"],
                    m["spec"]["memory"],
                    m["metadata"]["generation"],
                    m["status"]["observedGeneration"],
                )
            })
            .collect();
        assert!(down.len() <= 1, "more than maxUnavailable down: {down:?}");
    };
    let set = env
        .converge_checking("web", settled(3), at_most_one_down)
        .await;
    assert_ne!(set["status"]["currentTemplateHash"], first_hash);
    let rolled: Vec<String> = env
        .events_with("RollingUpdate")
        .iter()
        .map(|e| e["note"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        rolled,
        [
            "restarting member web-2 with the new template",
            "restarting member web-1 with the new template",
            "restarting member web-0 with the new template",
        ]
    );
    for vmid in [300, 301, 302] {
        let config = env
            .env
            .pve_client()
            .guest(GuestKind::Qemu, "pve1", vmid)
            .current_config()
            .await
            .unwrap();
        assert_eq!(config.get("memory").as_deref(), Some("4096"), "VM {vmid}");
    }
    assert_eq!(names(&env.member_objects()), ["web-0", "web-1", "web-2"]);
}

#[tokio::test]
async fn a_template_update_keeps_what_others_put_on_members_and_drops_what_it_no_longer_has() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 2, json!({})));
    env.converge("web", settled(2)).await;
    // A person opts a member in to losing its snapshots on deletion.
    env.env
        .kube
        .annotate("web-0", "kubepve.io/delete-snapshots", "true");

    env.sets.edit_spec("web", |s| {
        s["template"]["metadata"]["labels"]["tier"] = json!("front");
        s["template"]["metadata"]["annotations"] = json!({"team": "web"});
    });
    env.set_pass("web").await;
    let member = env.env.kube.get("web-0").unwrap();
    assert_eq!(member["metadata"]["labels"]["tier"], "front");
    assert_eq!(member["metadata"]["annotations"]["team"], "web");
    assert_eq!(
        member["metadata"]["annotations"]["kubepve.io/delete-snapshots"], "true",
        "a person's annotation stays"
    );

    env.sets.edit_spec("web", |s| {
        s["template"]["metadata"]["labels"] = json!({"app": "web"});
        s["template"]["metadata"]["annotations"] = json!({});
    });
    env.set_pass("web").await;
    let member = env.env.kube.get("web-0").unwrap();
    assert!(
        member["metadata"]["labels"].get("tier").is_none(),
        "{member:#}"
    );
    assert!(
        member["metadata"]["annotations"].get("team").is_none(),
        "{member:#}"
    );
    assert_eq!(
        member["metadata"]["annotations"]["kubepve.io/delete-snapshots"],
        "true"
    );
    assert_eq!(member["metadata"]["labels"]["app"], "web");
    assert_eq!(member["metadata"]["labels"]["kubepve.io/vmset"], "web");
}

#[tokio::test]
async fn on_delete_leaves_members_on_the_old_template_until_they_are_deleted() {
    let env = SetEnv::new().await;
    env.sets.put(vmset(
        "web",
        2,
        json!({"updateStrategy": {"type": "OnDelete"}}),
    ));
    env.converge("web", settled(2)).await;
    env.sets
        .edit_spec("web", |s| s["template"]["spec"]["memory"] = json!("4Gi"));
    for _ in 0..5 {
        env.set_pass("web").await;
        env.member_passes().await;
    }
    let set = env.sets.get("web").unwrap();
    assert_eq!(set["status"]["updatedReplicas"], 0);
    assert_eq!(condition(&set, "Ready")["status"], "True");
    assert!(
        condition_message(&set, "Ready").contains("OnDelete"),
        "{set:#}"
    );
    for m in env.member_objects() {
        assert_eq!(m["spec"]["memory"], "2Gi");
    }
    // The user deletes web-1: it comes back with the new template.
    env.env.kube.delete("web-1");
    let set = env
        .converge("web", |s| {
            s["status"]["updatedReplicas"] == 1 && s["status"]["readyReplicas"] == 2
        })
        .await;
    assert_eq!(set["status"]["replicas"], 2);
    assert_eq!(env.env.kube.get("web-1").unwrap()["spec"]["memory"], "4Gi");
    assert_eq!(env.env.kube.get("web-0").unwrap()["spec"]["memory"], "2Gi");
}

#[tokio::test]
async fn an_operator_restart_mid_scale_leaves_exactly_the_right_members() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 3, json!({})));
    // A pass creates the members; the operator dies and a new one runs the same pass on the
    // same (stale) object before any member has a status: 409s, no second member.
    let stale: ProxmoxVMSet = serde_json::from_value(env.sets.get("web").unwrap()).unwrap();
    env.set_pass_on(stale.clone()).await;
    env.env.restart_operator();
    env.set_pass_on(stale).await;
    assert_eq!(env.members(), ["web-0", "web-1", "web-2"]);
    env.converge("web", settled(3)).await;
    assert_eq!(env.guests().await, [300, 301, 302]);

    // Scale to 1: web-1 and web-2 are deleted but their guests are still there (finalizers).
    env.sets.edit_spec("web", |s| s["replicas"] = json!(1));
    env.set_pass("web").await;
    for name in ["web-1", "web-2"] {
        let m = env.env.kube.get(name).unwrap();
        assert!(m["metadata"]["deletionTimestamp"].is_string(), "{name}");
    }
    // The operator restarts, and the user scales back to 2 before the guests are gone: the
    // deleting members still hold guests, so nothing is created until they are gone.
    env.env.restart_operator();
    env.sets.edit_spec("web", |s| s["replicas"] = json!(2));
    env.set_pass("web").await;
    assert_eq!(env.members(), ["web-0", "web-1", "web-2"]);
    let guests_at_most_two_members = |_: &Value, members: &[Value]| {
        let live = members
            .iter()
            .filter(|m| m["metadata"]["deletionTimestamp"].is_null())
            .count();
        assert!(live <= 2, "{live} live members for replicas 2");
        assert!(members.len() <= 3, "{} member objects", members.len());
    };
    env.converge_checking(
        "web",
        |s| settled(2)(s) && env.members() == ["web-0", "web-1"],
        guests_at_most_two_members,
    )
    .await;
    assert_eq!(env.guests().await, [300, 301]);
}

#[tokio::test]
async fn deleting_the_set_cascades_to_members_and_guests() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 2, json!({})));
    env.converge("web", settled(2)).await;
    env.sets.delete("web");
    assert!(env.sets.get("web").is_none());
    for _ in 0..support::guest::MAX_PASSES {
        if env.members().is_empty() {
            break;
        }
        env.member_passes().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(env.members().is_empty(), "{:?}", env.members());
    assert!(env.guests().await.is_empty());
}

#[tokio::test]
async fn a_selector_the_template_does_not_meet_stalls_without_members() {
    let env = SetEnv::new().await;
    env.sets.put(vmset(
        "web",
        2,
        json!({"selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}),
    ));
    env.set_pass("web").await;
    let set = env.sets.get("web").unwrap();
    assert_eq!(condition(&set, "Stalled")["reason"], "SelectorMismatch");
    assert!(
        condition_message(&set, "Stalled").contains("app notin (web)"),
        "{set:#}"
    );
    assert!(env.members().is_empty());
}

#[tokio::test]
async fn a_template_the_api_server_refuses_stalls_the_set_with_its_message() {
    let env = SetEnv::new().await;
    let mut set = vmset("web", 2, json!({}));
    set["spec"]["template"]["metadata"]["labels"]["team"] = json!("web ops");
    env.sets.put(set);
    env.set_pass("web").await;
    let set = env.sets.get("web").unwrap();
    assert_eq!(condition(&set, "Stalled")["reason"], "InvalidTemplate");
    let message = condition_message(&set, "Stalled");
    assert!(
        message.contains("web ops") && message.contains("spec.template"),
        "{message}"
    );
    assert!(env.members().is_empty());
    // The scale subresource's selector is there for an autoscaler even so.
    assert_eq!(set["status"]["labelSelector"], "app=web");
}

#[tokio::test]
async fn a_member_name_held_by_another_object_stalls_the_set() {
    let env = SetEnv::new().await;
    env.env.kube.put(support::guest::vm(
        "web-0",
        json!({"vmid": 150, "source": {"blank": {}}}),
    ));
    env.sets.put(vmset("web", 1, json!({})));
    env.set_pass("web").await;
    let set = env.sets.get("web").unwrap();
    assert_eq!(condition(&set, "Stalled")["reason"], "NameTaken");
    // The other object is left as it was.
    let other = env.env.kube.get("web-0").unwrap();
    assert!(other["metadata"].get("ownerReferences").is_none());
    assert_eq!(other["spec"]["vmid"], 150);
}

#[tokio::test]
async fn a_terminating_namespace_stops_creation_without_errors() {
    let env = SetEnv::new().await;
    let mut doc = vmset("web", 2, json!({}));
    doc["metadata"]["namespace"] = json!("team");
    env.env.kube.create_namespace("team");
    env.sets.put(doc);
    // A guest whose finalizer keeps the namespace terminating (and not gone) for a while.
    env.env.kube.put_kind(
        "proxmoxvms",
        json!({"apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVM",
            "metadata": {"name": "db", "namespace": "team", "finalizers": ["kubepve.io/finalizer"]},
            "spec": {"connectionRef": {"name": "pve"}, "vmid": 160, "source": {"blank": {}}}}),
    );
    let stale: ProxmoxVMSet =
        serde_json::from_value(env.sets.get_kind("proxmoxvmsets", "team", "web").unwrap()).unwrap();
    env.env.kube.delete_namespace("team");
    let action = kubepve::vmset::reconcile(std::sync::Arc::new(stale), env.env.ctx()).await;
    assert!(action.is_ok(), "{action:?}");
    assert!(
        env.env.kube.namespace("team").is_some(),
        "still terminating"
    );
    let left = env.env.kube.list("proxmoxvms", Some("team"));
    assert_eq!(names(&left), ["db"], "no member was made");
    assert!(env.events_with("ScaledUp").is_empty());
}

#[tokio::test]
async fn without_a_vmid_range_members_allocate_vmids_like_single_vms() {
    let env = SetEnv::new().await;
    let mut doc = vmset("db", 2, json!({}));
    doc["spec"].as_object_mut().unwrap().remove("vmidRange");
    env.sets.put(doc);
    env.converge("db", settled(2)).await;
    let mut vmids: Vec<u64> = env
        .member_objects()
        .iter()
        .map(|m| {
            assert!(m["spec"].get("vmid").is_none(), "{m:#}");
            m["status"]["vmid"].as_u64().unwrap()
        })
        .collect();
    vmids.sort();
    vmids.dedup();
    assert_eq!(vmids.len(), 2, "two members, two VMIDs");
    assert_eq!(env.guests().await, vmids);
}

#[tokio::test]
async fn a_change_that_needs_a_new_guest_replaces_members_one_at_a_time() {
    let env = SetEnv::new().await;
    env.sets.put(vmset("web", 2, json!({})));
    env.converge("web", settled(2)).await;
    // From a clone of the template to a blank VM: only a new guest can take that.
    env.sets.edit_spec("web", |s| {
        s["template"]["spec"]["source"] = json!({"blank": {}});
        s["template"]["spec"]["disks"] =
            json!([{"slot": "scsi0", "storage": "local-lvm", "size": "8Gi"}]);
    });
    let never_more_than_two = |_: &Value, members: &[Value]| {
        assert!(members.len() <= 2, "{:?}", names(members));
        let deleting = members
            .iter()
            .filter(|m| m["metadata"]["deletionTimestamp"].is_string())
            .count();
        assert!(deleting <= 1, "more than maxUnavailable replaced at once");
    };
    env.converge_checking("web", settled(2), never_more_than_two)
        .await;
    let replaced: Vec<String> = env
        .events_with("ReplacingMember")
        .iter()
        .map(|e| e["note"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        replaced,
        [
            "deleted member web-1 to make it again from the new template",
            "deleted member web-0 to make it again from the new template",
        ]
    );
    assert_eq!(env.members(), ["web-0", "web-1"]);
    assert_eq!(env.guests().await, [300, 301], "same VMIDs, new guests");
    for m in env.member_objects() {
        assert_eq!(m["spec"]["source"], json!({"blank": {}}));
    }
}

#[tokio::test]
async fn a_bad_max_unavailable_stalls_before_any_member_is_touched() {
    let env = SetEnv::new().await;
    env.sets.put(vmset(
        "web",
        2,
        json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": "150%"}}}),
    ));
    env.set_pass("web").await;
    let set = env.sets.get("web").unwrap();
    assert_eq!(
        condition(&set, "Stalled")["reason"],
        "InvalidUpdateStrategy"
    );
    assert!(
        condition_message(&set, "Stalled").contains("\"150%\""),
        "{set:#}"
    );
    assert!(env.members().is_empty());
}
