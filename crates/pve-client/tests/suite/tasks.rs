//! Task waiting against fakepve: OK, ERROR, WARNINGS, progress as the log grows, timeouts, a
//! UPID not visible yet, and stopping a task.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use futures::StreamExt;
use pve_client::{Error, TaskOutcome, Upid, WaitOptions};
use pve_testkit::{FakePve, TaskSeed, VmSeed};

#[tokio::test]
async fn ok_error_and_warnings_are_distinct() {
    let pve = FakePve::start().await;
    let c = common::token_client(&pve).await;
    let w = common::quick_wait();

    let ok: Upid = pve
        .start_task(TaskSeed::new("qmstart", "100").log(&["starting"]))
        .await
        .parse()
        .unwrap();
    assert_eq!(c.wait_task(&ok, w).await.unwrap(), TaskOutcome::Ok);

    let warn: Upid = pve
        .start_task(
            TaskSeed::new("qmstart", "100")
                .log(&["WARN: disk slow"])
                .warnings(1),
        )
        .await
        .parse()
        .unwrap();
    let outcome = c.wait_task(&warn, w).await.unwrap();
    assert_eq!(outcome, TaskOutcome::Warnings(1));
    assert!(outcome.is_success());
    assert_eq!(
        c.task_status(&warn).await.unwrap().exitstatus.as_deref(),
        Some("WARNINGS: 1")
    );

    let bad: Upid = pve
        .start_task(TaskSeed::new("qmstart", "100").error("VM is locked (backup)"))
        .await
        .parse()
        .unwrap();
    match c.wait_task(&bad, w).await.unwrap_err() {
        Error::TaskFailed { exit_status, .. } => assert_eq!(exit_status, "VM is locked (backup)"),
        e => panic!("{e:?}"),
    }
    let log = c.task_log_from(&bad, 0).await.unwrap();
    assert_eq!(log.last().unwrap().t, "TASK ERROR: VM is locked (backup)");
}

#[tokio::test]
async fn start_of_a_locked_vm_fails_inside_the_task() {
    let pve = FakePve::start().await;
    pve.add_vm(VmSeed::new(100, "web").lock("create")).await;
    let c = common::token_client(&pve).await;
    let upid = c.qemu("pve1", 100).start().await.unwrap();
    let err = c.wait_task(&upid, common::quick_wait()).await.unwrap_err();
    assert!(
        matches!(err, Error::TaskFailed { ref exit_status, .. } if exit_status == "VM is locked (create)"),
        "{err:?}"
    );
}

#[tokio::test]
async fn watch_streams_status_and_new_log_lines() {
    let pve = FakePve::builder().time_scale(0.05).start().await;
    let c = common::token_client(&pve).await;
    let upid: Upid = pve
        .start_task(
            TaskSeed::new("qmclone", "9000")
                .secs(10.0)
                .log(&["one", "two", "three", "four"]),
        )
        .await
        .parse()
        .unwrap();
    let opts = WaitOptions {
        poll_interval: Duration::from_millis(40),
        ..common::quick_wait()
    };
    let steps: Vec<_> = c.watch_task(&upid, opts).collect().await;
    let steps: Vec<_> = steps.into_iter().map(Result::unwrap).collect();
    assert!(
        steps.len() >= 3,
        "expected several polls, got {}",
        steps.len()
    );
    assert!(steps[0].running);
    let last = steps.last().unwrap();
    assert_eq!(last.outcome, Some(TaskOutcome::Ok));
    let lines: Vec<String> = steps.iter().flat_map(|s| s.lines.clone()).collect();
    assert_eq!(lines, ["one", "two", "three", "four", "TASK OK"]);
    // The log arrived in more than one piece, as it grew.
    assert!(steps.iter().filter(|s| !s.lines.is_empty()).count() >= 2);
}

#[tokio::test]
async fn waiting_times_out_and_the_task_can_be_stopped() {
    let pve = FakePve::builder().time_scale(1.0).start().await;
    let c = common::token_client(&pve).await;
    let upid: Upid = pve
        .start_task(TaskSeed::new("qmstart", "100").secs(60.0))
        .await
        .parse()
        .unwrap();
    let opts = WaitOptions {
        timeout: Duration::from_millis(300),
        ..common::quick_wait()
    };
    let started = std::time::Instant::now();
    let err = c.wait_task(&upid, opts).await.unwrap_err();
    assert!(matches!(err, Error::TaskTimeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(c.task_status(&upid).await.unwrap().is_running());
    // fakepve accepts the stop call (its generic handler changes nothing).
    c.task_stop(&upid).await.unwrap();
}

#[tokio::test]
async fn unknown_upid_is_transient_for_the_grace_period_only() {
    let pve = FakePve::start().await;
    let c = common::token_client(&pve).await;
    let upid: Upid = "UPID:pve1:00000001:00000001:66F1A2B3:qmstart:100:root@pam:"
        .parse()
        .unwrap();
    let opts = WaitOptions {
        startup_grace: Duration::from_millis(300),
        ..common::quick_wait()
    };
    let started = std::time::Instant::now();
    let err = c.wait_task(&upid, opts).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(pve.count("GET", "/status").await >= 3);
}
