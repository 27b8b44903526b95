//! The fault suite: 50 VMs are created, updated and deleted by the operator's real reconcile
//! while fakepve misbehaves: dropped and hanging connections and slow answers all along, and,
//! in every phase, HTTP 500s on a share of calls, tasks ending in `TASK ERROR`, config locks and
//! held config-file locks (lock timeouts), the node going offline, and login tickets expiring
//! and being revoked. Every phase must converge within a fixed number of rounds, with exactly
//! the guests the objects ask for (no duplicate, none left behind), no task still running, and
//! a bounded number of Proxmox calls per round (no hot loop).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use futures::future::join_all;
use kubepve_api::ProxmoxVM;
use pve_client::{Auth, Client, RetryPolicy, Tls};
use pve_testkit::{FakePve, Fault};
use serde_json::{Value, json};
use support::fleet::{self, Rng, manifest, name};
use support::guest::{Env, clone_vm, fast_settings, ready_now};

/// How many guests the suite manages.
const GUESTS: usize = 50;
/// Rounds (one reconcile of every object) during which faults are injected, per phase.
const FAULT_ROUNDS: usize = 14;
/// Rounds a phase may take in all before the suite fails.
const MAX_ROUNDS: usize = 80;
/// The operator logs in with a password, so that tickets can expire and be revoked.
const USER: &str = "kubepve@pve";
const PASSWORD: &str = "fault-suite-password-71";
/// The operator's whole-request timeout: a hanging connection costs this much.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(800);
/// fakepve's time scale (Env's): hang lengths are given in PVE seconds.
const TIME_SCALE: f64 = 0.001;

/// The operator's client: ticket login, a short timeout (hangs end quickly), quick retries.
fn ticket_client(pve: &FakePve, _token: &pve_testkit::Token) -> Client {
    Client::builder(pve.url(), Auth::password(USER, PASSWORD))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .timeout(CLIENT_TIMEOUT)
        .connect_timeout(CLIENT_TIMEOUT)
        .retry(RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        })
        .build()
        .unwrap()
}

struct Suite {
    env: Env,
    rng: Rng,
    /// Proxmox calls per round, over the whole run.
    calls: Vec<usize>,
    /// Guests given a config lock, with the round at which it is lifted.
    locked: Vec<(u32, usize)>,
}

impl Suite {
    async fn new() -> Self {
        let env = Env::with_client(
            "proxmoxvms",
            fast_settings(),
            support::guest::POLL_INTERVAL,
            ticket_client,
        )
        .await;
        env.pve.add_user(USER, PASSWORD).await;
        // A config-file lock is given up on after this many PVE seconds (scaled): the request
        // then fails with `can't lock file ... got timeout`.
        env.pve.set("lock_wait", json!(20)).await;
        Suite {
            env,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            calls: Vec::new(),
            locked: Vec::new(),
        }
    }

    fn names(&self) -> Vec<String> {
        (0..GUESTS)
            .map(name)
            .filter(|n| self.env.kube.get(n).is_some())
            .collect()
    }

    /// The network is unreliable for the whole run: a share of connections is reset or hangs
    /// (longer than the client's timeout), and every answer is slowed down a little.
    async fn flaky_network(&self) {
        let hang_secs = 3.0 / TIME_SCALE;
        self.env
            .pve
            .op(
                "flaky_network",
                json!({"drop_rate": 0.03, "hang_rate": 0.004, "hang_secs": hang_secs, "seed": 7}),
            )
            .await;
        self.env.pve.slow_network(2.0).await;
    }

    /// This round's faults, on top of the flaky network.
    async fn inject(&mut self, round: usize) {
        let pve = &self.env.pve;
        // HTTP 500 on a share of calls: the shared resource listing, the clone, and a few
        // guests' config writes, power changes and deletions.
        if round.is_multiple_of(3) {
            pve.inject_fault(
                Fault::status("GET", "/cluster/resources", 500, "fault suite: listing").times(1),
            )
            .await;
        }
        pve.inject_fault(
            Fault::named("POST", "/nodes/pve1/qemu/9000/clone", "config_lock_timeout").times(2),
        )
        .await;
        let names = self.names();
        let vmids: Vec<u32> = names
            .iter()
            .filter_map(|n| fleet::vmid(&self.env, n))
            .collect();
        if vmids.is_empty() {
            return;
        }
        for _ in 0..4 {
            let vmid = vmids[self.rng.below(vmids.len())];
            let base = format!("/nodes/pve1/qemu/{vmid}");
            let fault = match self.rng.below(6) {
                0 => Fault::status("PUT", &format!("{base}/config"), 500, "fault suite: config"),
                1 => Fault::status(
                    "POST",
                    &format!("{base}/config"),
                    500,
                    "fault suite: config",
                ),
                // A start or a destroy accepted, whose task then ends in TASK ERROR.
                2 => Fault::named("POST", &format!("{base}/status/start"), "start_failed"),
                3 => Fault::named("DELETE", &base, "locked"),
                4 => Fault::status("GET", &format!("{base}/config"), 500, "fault suite: read"),
                _ => Fault::status(
                    "POST",
                    &format!("{base}/status/shutdown"),
                    500,
                    "fault suite: shutdown",
                ),
            };
            pve.inject_fault(fault.times(1)).await;
        }
        // A guest whose config file is held locked (requests time out waiting for it), and one
        // with a config lock (a backup running) for three rounds.
        let held = vmids[self.rng.below(vmids.len())];
        // (It may be busy already, with a task of the operator's: then it is not held.)
        let _ = pve
            .try_op("hold_config_lock", json!({"vmid": held, "secs": 300.0}))
            .await;
        let locked = vmids[self.rng.below(vmids.len())];
        if pve.guest(locked).await.is_some_and(|g| g["lock"].is_null()) {
            pve.lock_guest(locked, "backup").await;
            self.locked.push((locked, round + 3));
        }
        // The node goes offline for two rounds, and login tickets are revoked now and then.
        match round {
            5 => pve.set_node_offline("pve1", true).await,
            7 => pve.set_node_offline("pve1", false).await,
            _ => {}
        }
        if round % 4 == 1 {
            pve.revoke_tickets().await;
        }
        self.unlock_due(round).await;
    }

    async fn unlock_due(&mut self, round: usize) {
        let (due, later): (Vec<_>, Vec<_>) = self.locked.iter().partition(|(_, r)| *r <= round);
        for (vmid, _) in due {
            if self.env.pve.guest(vmid).await.is_some() {
                self.env.pve.unlock_guest(vmid).await;
            }
        }
        self.locked = later;
    }

    /// Faults stop (the flaky network stays): backups end, the node is up.
    async fn end_faults(&mut self) {
        self.unlock_due(usize::MAX).await;
        self.env.pve.set_node_offline("pve1", false).await;
        self.env.pve.clear_faults().await;
        self.flaky_network().await;
    }

    /// One reconcile of every object, all at once as the controller's workers would run them;
    /// records how many Proxmox calls the round made.
    async fn round(&mut self) {
        self.env.pve.clear_requests().await;
        let names = self.names();
        join_all(names.iter().map(|n| self.env.pass::<ProxmoxVM>(n))).await;
        self.calls.push(self.env.pve.requests().await.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Runs rounds, with faults in the first [`FAULT_ROUNDS`], until `done` holds for every
    /// object (or is gone, for deletions); fails after [`MAX_ROUNDS`].
    async fn phase(&mut self, what: &str, done: impl Fn(Option<&Value>) -> bool) {
        for round in 0..MAX_ROUNDS {
            if round < FAULT_ROUNDS {
                self.inject(round).await;
            } else if round == FAULT_ROUNDS {
                self.end_faults().await;
            }
            if round > FAULT_ROUNDS
                && (0..GUESTS).all(|i| done(self.env.kube.get(&name(i)).as_ref()))
            {
                eprintln!("{what}: converged after {round} rounds");
                self.env.pve.clear_faults().await;
                return;
            }
            self.round().await;
        }
        let stuck: Vec<Value> = (0..GUESTS)
            .filter_map(|i| self.env.kube.get(&name(i)))
            .filter(|o| !done(Some(o)))
            .map(|o| json!({"name": o["metadata"]["name"], "status": o["status"]}))
            .collect();
        panic!("{what} did not converge in {MAX_ROUNDS} rounds: {stuck:#?}");
    }

    fn assert_calls_bounded(&self, what: &str) {
        let most = self.calls.iter().copied().max().unwrap_or_default();
        eprintln!(
            "{what}: {} rounds, calls per round: max {most}, all {:?}",
            self.calls.len(),
            self.calls
        );
        // A guest's reconcile makes a handful of calls (observe, act, follow its task), retries
        // included; a hot loop would make many more.
        assert!(
            most <= GUESTS * 8,
            "{what}: {most} Proxmox calls in one round of {GUESTS} reconciles"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_guests_converge_exactly_under_faults_through_create_update_and_delete() {
    let mut suite = Suite::new().await;
    suite.flaky_network().await;

    // Create.
    for i in 0..GUESTS {
        suite.env.kube.put(manifest(i));
    }
    suite.phase("create", ready_now).await;
    fleet::assert_exact_guests(&suite.env, GUESTS, "1024", "1").await;
    fleet::assert_no_task_running(&suite.env, GUESTS).await;
    suite.assert_calls_bounded("create");

    // Steady state without faults: a round costs far less than one call per guest.
    suite.env.pve.clear_faults().await;
    suite.calls.clear();
    for _ in 0..5 {
        suite.round().await;
    }
    let steady = suite.calls.iter().sum::<usize>() / suite.calls.len();
    eprintln!("steady state: {:?} calls per round", suite.calls);
    assert!(
        steady < GUESTS,
        "steady state reads every guest each round: {:?}",
        suite.calls
    );

    // Update: more memory and cores for every guest.
    suite.calls.clear();
    suite.flaky_network().await;
    for i in 0..GUESTS {
        suite.env.kube.edit_spec(&name(i), |s| {
            s["memory"] = json!("2Gi");
            s["cpu"]["cores"] = json!(2);
        });
    }
    suite.phase("update", ready_now).await;
    fleet::assert_exact_guests(&suite.env, GUESTS, "2048", "2").await;
    fleet::assert_no_task_running(&suite.env, GUESTS).await;
    suite.assert_calls_bounded("update");

    // Delete.
    suite.calls.clear();
    suite.flaky_network().await;
    for i in 0..GUESTS {
        suite.env.kube.delete(&name(i));
    }
    suite.phase("delete", |o| o.is_none()).await;
    let left = fleet::guests(&suite.env).await;
    assert!(left.is_empty(), "guests left behind: {left:#?}");
    assert!(
        suite.env.pve.guest(9000).await.is_some(),
        "the template is never touched"
    );
    fleet::assert_no_task_running(&suite.env, GUESTS).await;
    suite.assert_calls_bounded("delete");
}

#[tokio::test]
async fn a_deletion_whose_shutdown_task_keeps_failing_is_retried_until_it_succeeds() {
    // Before: three failed shutdown tasks counted as "accepted without effect", and the
    // deletion stalled as NotConverging for good.
    let env = Env::new("proxmoxvms").await;
    env.kube.put(clone_vm("web", 160, json!({})));
    env.drive::<ProxmoxVM>("web", ready_now).await.unwrap();
    env.pve
        .inject_fault(
            Fault::named(
                "POST",
                "/nodes/pve1/qemu/160/status/shutdown",
                "quit_powerdown_failed",
            )
            .times(4),
        )
        .await;
    env.kube.delete("web");
    env.drive::<ProxmoxVM>("web", |o| o.is_none()).await;
    assert!(env.pve.guest(160).await.is_none());
    assert_eq!(env.count("POST", "/qemu/160/status/shutdown").await, 5);
    let failed = env.events_with("TaskFailed");
    assert_eq!(failed.len(), 4, "{failed:#?}");
}
