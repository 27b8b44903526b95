//! Error classes as fakepve produces them, retries under injected faults without duplicated
//! writes, the in-flight cap, and the metrics hook.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pve_client::{CallCounters, DeleteOptions, Error, Params, RetryPolicy};
use pve_testkit::{FakePve, Fault, VmSeed};

#[tokio::test]
async fn each_error_class_from_the_fake() {
    let pve = FakePve::start().await;
    pve.add_vm(VmSeed::new(100, "web").running()).await;
    pve.add_vm(VmSeed::new(101, "idle")).await;
    pve.add_vm(VmSeed::new(102, "kept").config("protection", 1))
        .await;
    pve.add_node("pve2", true).await;
    let c = common::token_client(&pve).await;

    let e = c.qemu("pve1", 999).config().await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = c.create_qemu("pve1", 100, Params::new()).await.unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
    let e = c.create_qemu("pve1", 50, Params::new()).await.unwrap_err();
    match e {
        Error::InvalidParams { errors, .. } => assert!(errors.contains_key("vmid"), "{errors:?}"),
        e => panic!("{e:?}"),
    }
    let e = c
        .qemu("pve1", 100)
        .delete(DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::GuestRunning { .. }), "{e:?}");
    let e = c.qemu("pve1", 101).reboot().await.unwrap_err();
    assert!(matches!(e, Error::GuestNotRunning { .. }), "{e:?}");
    let e = c
        .qemu("pve1", 102)
        .delete(DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protected { .. }), "{e:?}");
    let e = c
        .qemu("pve1", 101)
        .update_config(
            Params::new()
                .set("description", "x")
                .set("digest", "0".repeat(40)),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");

    pve.lock_guest(101, "backup").await;
    match c
        .qemu("pve1", 101)
        .update_config(Params::new().set("cores", 2))
        .await
        .unwrap_err()
    {
        Error::Locked { lock, .. } => assert_eq!(lock, "backup"),
        e => panic!("{e:?}"),
    }
    pve.unlock_guest(101).await;

    pve.set_node_offline("pve2", true).await;
    let e = c.node_status("pve2").await.unwrap_err();
    assert!(
        matches!(e, Error::NodeUnreachable { status: 595, .. }),
        "{e:?}"
    );

    // A user with rights on another VM only.
    pve.grant("alice@pve", "/vms/101", &["VM.Audit"]).await;
    let alice = pve.create_token("alice@pve", "t").await;
    let a = pve_client::Client::builder(pve.url(), pve_client::Auth::token(alice.id, alice.secret))
        .tls(pve_client::Tls::CaBundle(pve.ca_pem().into()))
        .build()
        .unwrap();
    match a.qemu("pve1", 100).start().await.unwrap_err() {
        Error::Permission { message } => assert!(message.contains("VM.PowerMgmt"), "{message}"),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn config_lock_timeout_is_retried_even_for_writes() {
    let pve = FakePve::start().await;
    pve.add_vm(VmSeed::new(100, "web")).await;
    pve.hold_config_lock(100, None).await;
    let c = common::token_client(&pve).await;
    let e = c
        .qemu("pve1", 100)
        .update_config(Params::new().set("cores", 2))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e:?}");
    // Refused before acting, so retrying is safe: 1 + 3 retries.
    assert_eq!(pve.count("PUT", "/qemu/100/config").await, 4);
}

#[tokio::test]
async fn reads_retry_transient_errors_and_writes_do_not() {
    let pve = FakePve::start().await;
    pve.add_vm(VmSeed::new(100, "web")).await;
    let c = common::token_client(&pve).await;
    pve.inject_fault(
        Fault::status(
            "GET",
            "/cluster/resources",
            500,
            "cluster not ready - no quorum?",
        )
        .times(2),
    )
    .await;
    assert_eq!(c.guests().await.unwrap().len(), 1);
    assert_eq!(pve.count("GET", "/cluster/resources").await, 3);

    pve.inject_fault(
        Fault::status(
            "POST",
            "/nodes/pve1/qemu/100/status/start",
            500,
            "cluster not ready - no quorum?",
        )
        .times(1),
    )
    .await;
    let e = c.qemu("pve1", 100).start().await.unwrap_err();
    assert!(e.is_transient() && !e.is_retryable(), "{e:?}");
    assert_eq!(pve.count("POST", "/status/start").await, 1);

    // Non-transient read errors are not retried either.
    c.qemu("pve1", 999).status().await.unwrap_err();
    assert_eq!(pve.count("GET", "/qemu/999/status/current").await, 1);
}

#[tokio::test]
async fn flaky_network_never_duplicates_a_create() {
    let pve = FakePve::start().await;
    let c = common::token_builder(&pve)
        .await
        .retry(RetryPolicy {
            max_retries: 10,
            ..common::fast_retries()
        })
        .build()
        .unwrap();
    pve.flaky_network(0.4, 7).await;
    // Reads get through by retrying.
    for _ in 0..5 {
        c.version().await.unwrap();
    }
    let mut outcomes = Vec::new();
    for vmid in 400..412u32 {
        let r = c
            .create_qemu("pve1", vmid, Params::new().set("name", format!("g{vmid}")))
            .await;
        if let Err(e) = &r {
            assert!(
                matches!(e, Error::UnknownOutcome { .. } | Error::NotSent { .. }),
                "{e:?}"
            );
        }
        outcomes.push((vmid, r.is_ok()));
    }
    pve.clear_faults().await;
    assert!(
        outcomes.iter().any(|(_, ok)| !ok),
        "the fault should have hit some creates"
    );
    let reqs = pve.requests().await;
    for (vmid, ok) in outcomes {
        let posts = reqs
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path.ends_with("/qemu")
                    && r.body.contains(&format!("vmid={vmid}&"))
            })
            .count();
        assert!(posts <= 1, "vmid {vmid} was created {posts} times");
        // The caller checks before repeating a create whose outcome is unknown.
        assert_eq!(
            pve.guest(vmid).await.is_some(),
            ok || posts == 1,
            "vmid {vmid}"
        );
    }
}

#[tokio::test]
async fn in_flight_cap_is_respected() {
    let pve = FakePve::builder().time_scale(1.0).start().await;
    let token = pve.create_token("root@pam", "cap").await;
    pve.slow_network(0.3).await;
    let build = |cap| {
        pve_client::Client::builder(
            pve.url(),
            pve_client::Auth::token(&token.id, token.secret.as_str()),
        )
        .tls(pve_client::Tls::CaBundle(pve.ca_pem().into()))
        .max_in_flight(cap)
        .build()
        .unwrap()
    };
    let time = |c: pve_client::Client| async move {
        let started = Instant::now();
        let calls = (0..6).map(|_| c.version());
        for r in futures::future::join_all(calls).await {
            r.unwrap();
        }
        started.elapsed()
    };
    // Six 0.3 s calls: three rounds with a cap of 2, one round with the default cap of 8.
    let capped = time(build(2)).await;
    let wide = time(build(8)).await;
    assert!(capped >= Duration::from_millis(880), "{capped:?}");
    assert!(wide < capped, "{wide:?} vs {capped:?}");
}

#[tokio::test]
async fn metrics_count_calls_by_operation_and_outcome() {
    let pve = FakePve::start().await;
    pve.add_vm(VmSeed::new(100, "web")).await;
    let counters = Arc::new(CallCounters::default());
    let c = common::token_builder(&pve)
        .await
        .metrics(counters.clone())
        .build()
        .unwrap();
    c.guests().await.unwrap();
    c.qemu("pve1", 100).start().await.unwrap();
    c.qemu("pve1", 999).status().await.unwrap_err();
    assert_eq!(counters.get("cluster_resources", "ok"), 1);
    assert_eq!(counters.get("guest_start", "ok"), 1);
    assert_eq!(counters.get("guest_status", "not_found"), 1);
    assert_eq!(counters.total(), 3);
}
