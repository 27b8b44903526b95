//! The harness of the ProxmoxVMSet scenarios (`tests/suite/vmset_*.rs`): the guest [`Env`] (fakepve
//! with the cloud-init template, the fake Kubernetes API, an operator context) with the garbage
//! collector on, a view of the ProxmoxVMSets, and passes that run the set controller and the
//! guest controller over every member, as the two controllers would run side by side.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kubepve_api::{ProxmoxVM, ProxmoxVMSet};
use serde_json::{Value, json};

use super::fakekube::{DEFAULT_NS, FakeKube};
use super::guest::{Env, MAX_PASSES, TEMPLATE, pve_guests};

/// The set scenarios' environment.
pub struct SetEnv {
    /// The guest environment (its `kube` serves ProxmoxVMs).
    pub env: Env,
    /// The same fake API, for ProxmoxVMSets.
    pub sets: FakeKube,
}

impl SetEnv {
    /// A fresh environment.
    pub async fn new() -> Self {
        let env = Env::new("proxmoxvms").await;
        env.kube.collect_garbage(true);
        let sets = env.kube.view("proxmoxvmsets");
        SetEnv { env, sets }
    }

    /// One reconcile of the set `name` by the set controller.
    pub async fn set_pass(&self, name: &str) {
        let object = self
            .sets
            .get(name)
            .unwrap_or_else(|| panic!("{name} is gone"));
        self.set_pass_on(serde_json::from_value(object).unwrap())
            .await;
    }

    /// One reconcile of this (possibly stale) set object, as a watch would hand it over.
    pub async fn set_pass_on(&self, set: ProxmoxVMSet) {
        if let Err(e) = kubepve::vmset::reconcile(Arc::new(set), self.env.ctx()).await {
            eprintln!("set pass failed: {e}");
        }
    }

    /// One guest-controller reconcile of every member object.
    pub async fn member_passes(&self) {
        for name in self.env.kube.names() {
            if let Err(e) = self.env.pass::<ProxmoxVM>(&name).await {
                eprintln!("guest pass of {name} failed: {e}");
            }
        }
    }

    /// Runs set and member passes until `done` holds for the set (bounded); each round also
    /// checks `invariant` on the set and its members as stored.
    pub async fn converge_checking(
        &self,
        name: &str,
        done: impl Fn(&Value) -> bool,
        invariant: impl Fn(&Value, &[Value]),
    ) -> Value {
        for _ in 0..MAX_PASSES {
            self.set_pass(name).await;
            let set = self.sets.get(name).unwrap();
            invariant(&set, &self.member_objects());
            if done(&set) {
                return set;
            }
            self.member_passes().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "{name} did not converge: {:#}\nmembers: {:?}",
            self.sets.get(name).unwrap(),
            self.members()
        )
    }

    /// Runs set and member passes until `done` holds for the set (bounded).
    pub async fn converge(&self, name: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.converge_checking(name, done, |_, _| {}).await
    }

    /// The names of the ProxmoxVM objects, sorted.
    pub fn members(&self) -> Vec<String> {
        let mut names = self.env.kube.names();
        names.sort();
        names
    }

    /// The ProxmoxVM objects as stored.
    pub fn member_objects(&self) -> Vec<Value> {
        self.env.kube.list("proxmoxvms", Some(DEFAULT_NS))
    }

    /// The VMIDs of the guests in Proxmox (the template left out), sorted.
    pub async fn guests(&self) -> Vec<u64> {
        let mut vmids = pve_guests(&self.env.pve, self.env.token()).await;
        vmids.sort();
        vmids
    }

    /// Events with this reason, in the order they were sent.
    pub fn events_with(&self, reason: &str) -> Vec<Value> {
        self.env.events_with(reason)
    }
}

/// A ProxmoxVMSet `name` with `replicas` members cloned from the template on `pve1`, VMIDs
/// from 300, with `spec` merged over that.
pub fn vmset(name: &str, replicas: i32, spec: Value) -> Value {
    let mut full = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "vmidRange": {"start": 300, "end": 349},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "connectionRef": {"name": "pve"},
                "node": "pve1",
                "source": {"clone": {"templateName": TEMPLATE}},
                "memory": "2Gi",
            },
        },
    });
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxVMSet",
        "metadata": {"name": name, "namespace": DEFAULT_NS},
        "spec": full,
    })
}

/// The set's status holds `replicas` Ready members on the current template and has observed
/// its generation.
pub fn settled(replicas: i64) -> impl Fn(&Value) -> bool {
    move |set: &Value| {
        let st = &set["status"];
        st["observedGeneration"] == set["metadata"]["generation"]
            && st["replicas"] == replicas
            && st["readyReplicas"] == replicas
            && st["updatedReplicas"] == replicas
            && super::guest_objects::condition(set, "Ready")["status"] == "True"
    }
}
