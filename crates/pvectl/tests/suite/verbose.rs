//! `-v`: each Proxmox request on stderr with method, path, status and time, never a secret.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_shows_each_request_and_no_secret() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run(&["vm", "list", "-v"]).expect(0);
    let requests: Vec<&str> = r.stderr.lines().filter(|l| l.contains("method=")).collect();
    assert_eq!(requests.len(), 1, "{}", r.stderr);
    assert!(
        requests[0].starts_with("method=GET path=/api2/json/cluster/resources status=200 ms="),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("web-01"), "{}", r.stdout);
    let r = env
        .run(&[
            "-v",
            "vm",
            "update",
            "151",
            "--set",
            "cipassword=hunter2-secret",
        ])
        .expect(0);
    assert!(
        r.stderr
            .contains("method=PUT path=/api2/json/nodes/pve1/qemu/151/config status=200"),
        "{}",
        r.stderr
    );
    let r404 = env.run(&[
        "task",
        "status",
        "UPID:pve1:0000AAAA:00000000:679CBB00:qmstart:999:root@pam:",
        "-v",
    ]);
    assert!(r404.stderr.contains("status="), "{r404:?}");
    for text in [&r.stderr, &r404.stderr] {
        assert!(
            !text.contains("hunter2") && !text.contains(&env.token_secret),
            "{text}"
        );
    }
    // Without -v: no request lines.
    let r = env.run(&["vm", "list"]).expect(0);
    assert!(!r.stderr.contains("method="), "{}", r.stderr);
}
