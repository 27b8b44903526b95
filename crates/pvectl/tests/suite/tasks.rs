//! End to end: `task list`, `watch`, `logs`, `status`, `stop`.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;
use pve_testkit::TaskSeed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_commands() {
    let env = Env::new().await;
    env.seed().await;
    let upid = env
        .pve
        .start_task(
            TaskSeed::new("qmigrate", "150")
                .secs(30.0)
                .log(&["step one", "step two"]),
        )
        .await;
    let r = env
        .run(&["task", "list", "--running", "-o", "json"])
        .expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        v.as_array().unwrap().iter().any(|t| t["upid"] == upid),
        "{v}"
    );
    let r = env.run(&["task", "status", &upid, "-o", "json"]).expect(0);
    assert!(r.stdout.contains("\"type\": \"qmigrate\""), "{}", r.stdout);
    // Piped: the status and start first, the log on stdout, the exit status last.
    let r = env.run(&["task", "watch", &upid]).expect(0);
    assert_eq!(r.stdout, "step one\nstep two\nTASK OK\n", "{r:?}");
    let status: Vec<&str> = r.stderr.lines().collect();
    assert!(
        status[0].starts_with("qmigrate 150: running, started ") && status[0].ends_with(" ago)"),
        "{r:?}"
    );
    assert!(
        status
            .last()
            .unwrap()
            .starts_with("qmigrate 150: OK after "),
        "{r:?}"
    );
    let r = env.run(&["task", "logs", &upid]).expect(0);
    assert!(r.stdout.contains("step one"), "{}", r.stdout);
    let r = env
        .run(&["task", "list", "--vmid", "150", "-o", "name"])
        .expect(0);
    assert!(r.stdout.contains(&upid), "{}", r.stdout);

    let failing = env
        .pve
        .start_task(TaskSeed::new("qmstart", "151").secs(0.5).error("boom"))
        .await;
    let r = env.run(&["task", "watch", &failing]).expect(1);
    assert!(
        r.stderr.contains("qmstart 151: failed after ") && r.stderr.contains("exit status boom"),
        "{}",
        r.stderr
    );
    // The log (stdout) shows the task's own lines; pvectl says the error once, in the outcome
    // line, without repeating the log's error lines or adding an `error: task ... failed`.
    assert_eq!(r.stderr.matches("boom").count(), 1, "{}", r.stderr);
    assert_eq!(r.stdout.matches("boom").count(), 2, "{}", r.stdout);

    let long = env
        .pve
        .start_task(TaskSeed::new("vzdump", "152").secs(300.0))
        .await;
    env.run(&["task", "stop", &long]).expect(0);
    let stops = env.pve.requests().await;
    assert!(
        stops
            .iter()
            .any(|q| q.method == "DELETE" && q.path.contains("/tasks/")),
        "{stops:?}"
    );
    assert_eq!(env.journal().last().unwrap()["upids"][0], long.as_str());

    let r = env.run(&["task", "watch", "not-a-upid"]).expect(2);
    assert!(r.stderr.contains("not a UPID"), "{}", r.stderr);
}
