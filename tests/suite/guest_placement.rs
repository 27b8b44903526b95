//! Guest reconcile scenarios about where guests go and which VMIDs they get: placement by free
//! memory across nodes (counting guests being created), Unschedulable, VMID ranges and their
//! exhaustion, two operators creating at once, and the create/clone concurrency limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeSet;

use kubepve::connection::registry::Policy;
use kubepve_api::ProxmoxVM;
use pve_testkit::VmSeed;
use serde_json::{Value, json};
use support::fakekube::FakeKube;
use support::guest::{
    Env, MAX_PASSES, clone_vm, condition, condition_message, ready, stalled, tags, vm,
};

const GIB: u64 = 1 << 30;

/// A blank VM without `node` (and without `vmid` when `vmid` is 0).
fn unplaced(name: &str, vmid: u32, spec: Value) -> Value {
    let mut full = json!({"source": {"blank": {}}, "memory": "4Gi"});
    if vmid != 0 {
        full["vmid"] = json!(vmid);
    }
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    let mut object = vm(name, full);
    object["spec"].as_object_mut().unwrap().remove("node");
    object
}

/// Three nodes: pve1 with 4 GiB free, pve2 with 12 GiB free, pve3 offline.
async fn three_nodes(env: &Env) {
    env.pve.add_node("pve2", true).await;
    env.pve.add_node("pve3", true).await;
    env.pve.node_memory("pve1", 16 * GIB, 12 * GIB).await;
    env.pve.node_memory("pve2", 16 * GIB, 4 * GIB).await;
    env.pve.node_memory("pve3", 64 * GIB, 0).await;
    env.pve.set_node_offline("pve3", true).await;
}

fn status_node(env: &Env, name: &str) -> String {
    env.kube.get(name).unwrap()["status"]["node"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn guests_without_a_node_go_where_most_memory_is_free_counting_guests_being_created() {
    let env = Env::new("proxmoxvms").await;
    three_nodes(&env).await;
    for (name, vmid) in [("a", 401), ("b", 402), ("c", 403)] {
        env.kube.put(unplaced(name, vmid, json!({})));
    }
    // One pass each: every one is placed (and its create sent) before Proxmox shows the others.
    for name in ["a", "b", "c"] {
        env.pass::<ProxmoxVM>(name).await.unwrap();
    }
    // a takes 4 of pve2's 12 GiB, b 4 more; c then sees pve1 and pve2 with 4 GiB each and
    // takes the first by name. Offline pve3 is never chosen.
    assert_eq!(status_node(&env, "a"), "pve2");
    assert_eq!(status_node(&env, "b"), "pve2");
    assert_eq!(status_node(&env, "c"), "pve1");
    for (name, vmid, node) in [("a", 401, "pve2"), ("b", 402, "pve2"), ("c", 403, "pve1")] {
        env.drive::<ProxmoxVM>(name, ready).await;
        let guest = env.pve.guest(vmid).await.unwrap();
        assert_eq!(guest["node"], node, "{name}");
    }

    // placement.allowedNodes narrows the choice.
    env.kube.put(unplaced(
        "d",
        404,
        json!({"placement": {"allowedNodes": ["pve1"]}, "memory": "1Gi"}),
    ));
    env.drive::<ProxmoxVM>("d", ready).await;
    assert_eq!(env.pve.guest(404).await.unwrap()["node"], "pve1");
}

#[tokio::test]
async fn the_connections_allowed_nodes_apply_when_the_guest_names_none() {
    let env = Env::new("proxmoxvms").await;
    three_nodes(&env).await;
    env.set_policy(Policy {
        allowed_nodes: vec!["pve1".into()],
        ..Policy::default()
    });
    env.kube.put(unplaced("e", 405, json!({"memory": "1Gi"})));
    env.drive::<ProxmoxVM>("e", ready).await;
    assert_eq!(env.pve.guest(405).await.unwrap()["node"], "pve1");
}

#[tokio::test]
async fn no_node_with_room_is_unschedulable_with_the_reason_and_nothing_is_created() {
    let env = Env::new("proxmoxvms").await;
    three_nodes(&env).await;
    env.pve.clear_requests().await;
    env.kube
        .put(unplaced("huge", 410, json!({"memory": "32Gi"})));
    let object = env
        .drive::<ProxmoxVM>("huge", stalled("Unschedulable"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("32768 MiB"), "{message}");
    assert!(message.contains("pve2 has 12288 MiB free"), "{message}");
    assert!(message.contains("pve3 is offline"), "{message}");
    assert_eq!(condition(&object, "Ready")["status"], "False");
    assert!(env.creates_for(410).await.is_empty());
    assert!(object["status"]["node"].is_null(), "{object:#}");

    // Room appears (another node joins): the guest is placed and created there.
    env.pve.add_node("pve4", true).await;
    env.pve.node_memory("pve4", 64 * GIB, 0).await;
    env.drive::<ProxmoxVM>("huge", ready).await;
    assert_eq!(env.pve.guest(410).await.unwrap()["node"], "pve4");
}

#[tokio::test]
async fn vmids_come_from_the_range_lowest_first_until_it_is_exhausted() {
    let env = Env::new("proxmoxvms").await;
    env.pve.add_vm(VmSeed::new(500, "squatter")).await;
    env.set_policy(Policy {
        vmid_range: Some((500, 502)),
        ..Policy::default()
    });
    for name in ["r1", "r2", "r3"] {
        let mut object = clone_vm(name, 0, json!({}));
        object["spec"].as_object_mut().unwrap().remove("vmid");
        env.kube.put(object);
    }
    env.drive::<ProxmoxVM>("r1", ready).await;
    env.drive::<ProxmoxVM>("r2", ready).await;
    let vmid = |name: &str| env.kube.get(name).unwrap()["status"]["vmid"].as_u64();
    assert_eq!(vmid("r1"), Some(501));
    assert_eq!(vmid("r2"), Some(502));
    let object = env
        .drive::<ProxmoxVM>("r3", stalled("VmidRangeExhausted"))
        .await
        .unwrap();
    let message = condition_message(&object, "Stalled");
    assert!(message.contains("500-502"), "{message}");
    assert!(object["status"]["vmid"].is_null());
    assert!(env.creates_for(503).await.is_empty());
    // The squatter was never touched.
    assert!(env.writes_for(500).await.is_empty());
}

#[tokio::test]
async fn two_operators_creating_at_once_never_share_a_vmid() {
    let env = Env::new("proxmoxvms").await;
    let range = Policy {
        vmid_range: Some((600, 699)),
        ..Policy::default()
    };
    env.set_policy(range.clone());
    let other_kube = FakeKube::new("proxmoxvms");
    let other = env.operator(&other_kube);
    let names_a: Vec<String> = (0..5).map(|i| format!("left-{i}")).collect();
    let names_b: Vec<String> = (0..5).map(|i| format!("right-{i}")).collect();
    for n in &names_a {
        let mut object = clone_vm(n, 0, json!({}));
        object["spec"].as_object_mut().unwrap().remove("vmid");
        env.kube.put(object);
    }
    for n in &names_b {
        let mut object = clone_vm(n, 0, json!({}));
        object["spec"].as_object_mut().unwrap().remove("vmid");
        other_kube.put(object);
    }
    let all_ready =
        |kube: &FakeKube, names: &[String]| names.iter().all(|n| ready(kube.get(n).as_ref()));
    for _ in 0..MAX_PASSES {
        if all_ready(&env.kube, &names_a) && all_ready(&other_kube, &names_b) {
            break;
        }
        // Both operators reconcile their objects at the same moment.
        let left = async {
            for n in &names_a {
                let _ = Env::pass_on::<ProxmoxVM>(&env.kube, env.ctx(), n).await;
            }
        };
        let right = async {
            for n in &names_b {
                let _ = Env::pass_on::<ProxmoxVM>(&other_kube, other.clone(), n).await;
            }
        };
        tokio::join!(left, right);
    }
    assert!(all_ready(&env.kube, &names_a) && all_ready(&other_kube, &names_b));
    let retried = |kube: &FakeKube| {
        kube.events()
            .iter()
            .filter(|e| e["reason"] == "VmidTaken")
            .count()
    };
    // Both allocate the lowest free id at the same moment, so some creates collide; the losers
    // allocate again (a scenario without a collision would not test anything).
    assert!(retried(&env.kube) + retried(&other_kube) > 0);
    let mut vmids = BTreeSet::new();
    for (kube, names) in [(&env.kube, &names_a), (&other_kube, &names_b)] {
        for n in names {
            let vmid = kube.get(n).unwrap()["status"]["vmid"].as_u64().unwrap();
            assert!((600..=699).contains(&vmid), "{n}: {vmid}");
            assert!(vmids.insert(vmid), "VMID {vmid} given twice");
            let guest = env.pve.guest(u32::try_from(vmid).unwrap()).await.unwrap();
            let owners: Vec<String> = tags(&guest)
                .into_iter()
                .filter(|t| t.starts_with("kubepve-owner-"))
                .collect();
            assert_eq!(owners, vec![format!("kubepve-owner-uid-{n}")], "{vmid}");
        }
    }
    // Ten objects, ten guests in the range: nobody created a second one.
    let client = env.pve_client();
    let in_range = client
        .cluster_resources(Some("vm"))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.vmid.is_some_and(|v| (600..=699).contains(&v)))
        .count();
    assert_eq!(in_range, 10);
}

#[tokio::test]
async fn creates_and_clones_wait_for_a_slot_on_their_node_and_storage() {
    let env = Env::new("proxmoxvms").await;
    env.set_policy(Policy {
        creates_per_node: 2,
        clones_per_storage: 1,
        ..Policy::default()
    });
    for (name, vmid) in [("c1", 701), ("c2", 702)] {
        env.kube.put(clone_vm(name, vmid, json!({})));
    }
    env.kube
        .put(vm("blank1", json!({"vmid": 703, "source": {"blank": {}}})));
    env.kube
        .put(vm("blank2", json!({"vmid": 704, "source": {"blank": {}}})));
    for name in ["c1", "c2", "blank1", "blank2"] {
        env.pass::<ProxmoxVM>(name).await.unwrap();
    }
    let reason = |name: &str| {
        condition(&env.kube.get(name).unwrap(), "Reconciling")["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // c1 clones; c2 waits for the template's storage; blank1 creates (2 per node); blank2 waits.
    assert_eq!(reason("c1"), "TaskRunning");
    assert_eq!(reason("c2"), "WaitingForCreateSlot");
    let message = condition_message(&env.kube.get("c2").unwrap(), "Reconciling");
    assert!(
        message.contains("maxConcurrentClonesPerStorage"),
        "{message}"
    );
    assert_eq!(reason("blank1"), "TaskRunning");
    assert_eq!(reason("blank2"), "WaitingForCreateSlot");
    assert!(env.creates_for(702).await.is_empty());
    assert!(env.creates_for(704).await.is_empty());
    // Slots free up as tasks end: everything converges.
    for name in ["c1", "c2", "blank1", "blank2"] {
        env.drive::<ProxmoxVM>(name, ready).await;
    }
    for vmid in [701, 702, 703, 704] {
        assert_eq!(env.creates_for(vmid).await.len(), 1, "{vmid}");
    }
}
