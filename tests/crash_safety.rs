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

mod support;

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
