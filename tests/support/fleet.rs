//! A fleet of VMs for the fault and crash suites: the manifests (even ones ask for a VMID, odd
//! ones get one allocated) and the checks of the exact final state in Proxmox.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use pve_client::Params;
use serde_json::{Value, json};

use super::guest::{Env, clone_vm, tags};

/// A small deterministic generator (xorshift), so that a failing run can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap()
    }
}

/// The name of guest `i`.
pub fn name(i: usize) -> String {
    format!("g{i:02}")
}

/// The VMID guest `i` asks for, when it asks for one.
pub fn requested_vmid(i: usize) -> Option<u32> {
    i.is_multiple_of(2)
        .then(|| 1000 + u32::try_from(i).unwrap())
}

/// Guest `i`: a clone with one core and 1 GiB, rebooted to apply changes. Even guests ask for a
/// VMID; odd ones get one allocated (where a lost track would show as a duplicate).
pub fn manifest(i: usize) -> Value {
    let mut object = clone_vm(
        &name(i),
        0,
        json!({
            "cpu": {"cores": 1}, "memory": "1Gi", "tags": ["fleet"], "restartPolicy": "Automatic",
        }),
    );
    match requested_vmid(i) {
        Some(vmid) => object["spec"]["vmid"] = json!(vmid),
        None => {
            object["spec"].as_object_mut().unwrap().remove("vmid");
        }
    }
    object
}

/// The VMID recorded in the object's status.
pub fn vmid(env: &Env, name: &str) -> Option<u32> {
    let object = env.kube.get(name)?;
    object["status"]["vmid"]
        .as_u64()
        .map(|v| u32::try_from(v).unwrap())
}

/// Every guest in Proxmox but the template, by VMID.
pub async fn guests(env: &Env) -> BTreeMap<u32, Value> {
    let mut out = BTreeMap::new();
    for r in env.pve_client().guests().await.unwrap() {
        let vmid = u32::try_from(r.vmid.unwrap()).unwrap();
        if vmid != 9000 {
            out.insert(vmid, env.pve.guest(vmid).await.unwrap());
        }
    }
    out
}

/// No Proxmox task is still running, and no object of the first `n` tracks one.
pub async fn assert_no_task_running(env: &Env, n: usize) {
    let tasks: Vec<Value> = env
        .pve_client()
        .get("/nodes/pve1/tasks", Params::new().set("source", "active"))
        .await
        .unwrap();
    let running: Vec<&Value> = tasks
        .iter()
        .filter(|t| t.get("endtime").is_none())
        .collect();
    assert!(running.is_empty(), "tasks still running: {running:#?}");
    for name in (0..n).map(name) {
        if let Some(object) = env.kube.get(&name) {
            assert!(
                object["status"]["currentTask"].is_null(),
                "{name} still tracks a task: {:#}",
                object["status"]
            );
        }
    }
}

/// Exactly one guest per object of the first `n`, carrying that object's ownership tag, at the
/// VMID its status records, running and unlocked, with this memory (MiB) and cores.
pub async fn assert_exact_guests(env: &Env, n: usize, memory: &str, cores: &str) {
    let guests = guests(env).await;
    assert_eq!(
        guests.len(),
        n,
        "one guest per object, no more: {:?}",
        guests.keys()
    );
    let mut owners = BTreeSet::new();
    for i in 0..n {
        let name = name(i);
        let vmid = vmid(env, &name).expect("status.vmid");
        if let Some(requested) = requested_vmid(i) {
            assert_eq!(vmid, requested);
        }
        let guest = guests
            .get(&vmid)
            .unwrap_or_else(|| panic!("{name}: no guest {vmid}"));
        let owner = format!("kubepve-owner-uid-{name}");
        assert!(tags(guest).contains(&owner), "{name}: {guest:#}");
        assert!(owners.insert(owner), "two guests own {name}");
        assert_eq!(guest["status"], "running", "{name}: {guest:#}");
        assert!(guest["lock"].is_null(), "{name}: {guest:#}");
        let config = &guest["config"];
        assert_eq!(config["name"], name.as_str(), "{name}: {config:#}");
        assert_eq!(
            config["memory"].to_string().trim_matches('"'),
            memory,
            "{name}: {config:#}"
        );
        // One core is Proxmox's default: the key may be absent.
        let set_cores = match &config["cores"] {
            Value::Null => "1".to_string(),
            v => v.to_string().trim_matches('"').to_string(),
        };
        assert_eq!(set_cores, cores, "{name}: {config:#}");
    }
}
