//! Crash safety, offline: 20 VMs are created and deleted while every reconcile may be abandoned
//! at a random point (its future dropped mid-flight, as a killed process stops: between a
//! Proxmox request and its answer, before or after a status write), the operator "restarts"
//! (a fresh context: nothing remembered) at random, and status writes are lost for whole rounds.
//! Afterwards, run normally, the state must be exact: one guest per object, at the VMID its
//! status records, carrying its ownership tag; no duplicate, nothing left behind after
//! deletion, no task still running.
//!
//! The same with the real `kubepve` controllers on a real API server, aborted and restarted
//! repeatedly, is `real_apiserver_operator_killed_repeatedly_converges_exactly` below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use futures::future::join_all;
use kubepve_api::ProxmoxVM;
use serde_json::Value;
use support::fleet::{self, Rng, manifest, name};
use support::guest::{Env, ready_now};

const GUESTS: usize = 20;
const CHAOS_ROUNDS: usize = 40;
const MAX_ROUNDS: usize = 150;

struct Chaos {
    env: Env,
    rng: Rng,
    /// Reconciles abandoned mid-flight.
    abandoned: usize,
    /// Operator restarts.
    restarts: usize,
}

impl Chaos {
    fn names(&self) -> Vec<String> {
        (0..GUESTS)
            .map(name)
            .filter(|n| self.env.kube.get(n).is_some())
            .collect()
    }

    /// One round in which every reconcile gets a random time budget and is dropped when it runs
    /// over, status writes may all be lost, and the operator may restart afterwards.
    async fn chaos_round(&mut self, round: usize) {
        let names = self.names();
        let budgets: Vec<Duration> = names
            .iter()
            .map(|_| Duration::from_millis(u64::try_from(self.rng.below(120)).unwrap()))
            .collect();
        let lost_writes = round % 7 == 3;
        self.env.kube.fail_status_writes(lost_writes);
        let outcomes = join_all(
            names
                .iter()
                .zip(&budgets)
                .map(|(n, budget)| tokio::time::timeout(*budget, self.env.pass::<ProxmoxVM>(n))),
        )
        .await;
        self.abandoned += outcomes.iter().filter(|o| o.is_err()).count();
        self.env.kube.fail_status_writes(false);
        if self.rng.below(3) == 0 {
            self.env.restart_operator();
            self.restarts += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    /// Normal rounds (after a last restart) until `done` holds for every object.
    async fn settle(&mut self, what: &str, done: impl Fn(Option<&Value>) -> bool) {
        self.env.restart_operator();
        for _ in 0..MAX_ROUNDS {
            if (0..GUESTS).all(|i| done(self.env.kube.get(&name(i)).as_ref())) {
                return;
            }
            let names = self.names();
            join_all(names.iter().map(|n| self.env.pass::<ProxmoxVM>(n))).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stuck: Vec<Value> = (0..GUESTS)
            .filter_map(|i| self.env.kube.get(&name(i)))
            .filter(|o| !done(Some(o)))
            .map(|o| o["status"].clone())
            .collect();
        panic!("{what}: did not settle: {stuck:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_abandoned_at_random_points_and_restarts_leave_an_exact_state() {
    let mut chaos = Chaos {
        env: Env::new("proxmoxvms").await,
        rng: Rng(0x2545_f491_4f6c_dd1d),
        abandoned: 0,
        restarts: 0,
    };
    for i in 0..GUESTS {
        chaos.env.kube.put(manifest(i));
    }
    for round in 0..CHAOS_ROUNDS {
        chaos.chaos_round(round).await;
    }
    chaos.settle("create", ready_now).await;
    fleet::assert_exact_guests(&chaos.env, GUESTS, "1024", "1").await;
    fleet::assert_no_task_running(&chaos.env, GUESTS).await;

    for i in 0..GUESTS {
        chaos.env.kube.delete(&name(i));
    }
    for round in 0..CHAOS_ROUNDS {
        chaos.chaos_round(round).await;
    }
    chaos.settle("delete", |o| o.is_none()).await;
    let left = fleet::guests(&chaos.env).await;
    assert!(left.is_empty(), "guests left behind: {left:#?}");
    assert!(
        chaos.env.pve.guest(9000).await.is_some(),
        "the template stays"
    );
    fleet::assert_no_task_running(&chaos.env, GUESTS).await;

    eprintln!(
        "{} reconciles abandoned mid-flight, {} restarts",
        chaos.abandoned, chaos.restarts
    );
    // The run did what it claims: many reconciles were cut short, and the operator restarted.
    assert!(chaos.abandoned >= 50, "{} abandoned", chaos.abandoned);
    assert!(chaos.restarts >= 10, "{} restarts", chaos.restarts);
}

/// The `kubepve run` binary against the test API server, for the namespace `ns`.
fn start_operator(kubeconfig: &std::path::Path, ns: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubepve"))
        .args(["run", "--namespace", ns, "--probe-addr", "127.0.0.1:0"])
        .args(["--backup-namespace", ns])
        .args(["--task-poll-seconds", "1"])
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start kubepve run")
}

/// Polls `check` every half second for at most `limit`; the last answer.
async fn wait_for(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let rounds = limit.as_millis() / 500;
    for _ in 0..rounds {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    check().await
}

#[tokio::test]
async fn real_apiserver_operator_killed_repeatedly_converges_exactly() {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use kube::ResourceExt;
    use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
    use kubepve_api::ProxmoxConnection;
    use serde_json::json;

    let Some(env) = support::apiserver::TestEnv::start("real-apiserver crash suite").await else {
        return;
    };
    const N: usize = 10;
    let client = env.client.clone();
    env.install_crds().await;
    let ns = format!("kubepve-crash-{}", std::process::id());
    let apply = PatchParams::apply("kubepve-test").force();
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns.clone()}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &apply, &Patch::Apply(&namespace))
        .await
        .unwrap();
    let (pve, token) = support::lab::sample_lab(0.01).await;
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pve"},
        "stringData": {"tokenId": token.id, "tokenSecret": token.secret},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch("pve", &apply, &Patch::Apply(&secret))
        .await
        .unwrap();
    let conn = json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
        "metadata": {"name": "pve"},
        "spec": {"endpoint": pve.url(), "credentialsSecretRef": {"name": "pve"},
                 "tls": {"caBundle": pve.ca_pem()}},
    });
    Api::<ProxmoxConnection>::namespaced(client.clone(), &ns)
        .patch("pve", &apply, &Patch::Apply(&conn))
        .await
        .unwrap();
    let vms: Api<ProxmoxVM> = Api::namespaced(client.clone(), &ns);
    for i in 0..N {
        let mut doc = manifest(i);
        doc["metadata"] = json!({"name": name(i)});
        vms.patch(&name(i), &apply, &Patch::Apply(&doc))
            .await
            .unwrap();
    }

    // Kill the operator (SIGKILL) at random points, again and again, then let one run finish.
    let mut rng = Rng(0x9e37_79b9);
    let kill_repeatedly = async |rng: &mut Rng| {
        for _ in 0..6 {
            let mut operator = start_operator(&env.kubeconfig, &ns);
            let ms = 300 + u64::try_from(rng.below(2500)).unwrap();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            operator.kill().unwrap();
            operator.wait().unwrap();
        }
    };
    kill_repeatedly(&mut rng).await;
    let mut operator = start_operator(&env.kubeconfig, &ns);
    let all_ready = wait_for(Duration::from_secs(180), async || {
        let list = vms.list(&ListParams::default()).await.unwrap();
        list.items.len() == N
            && list.items.iter().all(|vm| {
                vm.status.as_ref().is_some_and(|s| {
                    s.conditions.iter().any(|c| {
                        c.type_ == "Ready"
                            && c.status == "True"
                            && c.observed_generation == vm.metadata.generation
                    })
                })
            })
    })
    .await;
    operator.kill().unwrap();
    operator.wait().unwrap();
    assert!(all_ready, "{:#?}", vms.list(&ListParams::default()).await);

    // Exactly one guest per object, at the VMID its status records, carrying its uid's tag.
    let guests: Vec<_> = support::guest::pve_guests(&pve, &token).await;
    assert_eq!(guests.len(), N, "one guest per object: {guests:#?}");
    for vm in vms.list(&ListParams::default()).await.unwrap() {
        let vmid = u32::try_from(vm.status.as_ref().unwrap().vmid.unwrap()).unwrap();
        let guest = pve.guest(vmid).await.expect("the recorded guest exists");
        let owner = kubepve_api::owner_tag(&vm.uid().unwrap());
        assert!(
            support::guest::tags(&guest).contains(&owner),
            "{}: {guest:#}",
            vm.name_any()
        );
        assert_eq!(guest["status"], "running");
    }

    // Delete everything, killing the operator again; nothing may be left behind.
    for i in 0..N {
        vms.delete(&name(i), &DeleteParams::default())
            .await
            .unwrap();
    }
    kill_repeatedly(&mut rng).await;
    let mut operator = start_operator(&env.kubeconfig, &ns);
    let all_gone = wait_for(Duration::from_secs(180), async || {
        vms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    let conns_gone = all_gone && support::apiserver::delete_connections(&client, &ns).await;
    operator.kill().unwrap();
    operator.wait().unwrap();
    assert!(all_gone, "{:#?}", vms.list(&ListParams::default()).await);
    assert!(conns_gone, "the connection's finalizer was released");
    let left = support::guest::pve_guests(&pve, &token).await;
    assert!(left.is_empty(), "guests left behind: {left:#?}");
    let _ = Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await;
}
