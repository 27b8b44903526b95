//! A closed stdout (`pvectl vm list -o json | head`) ends pvectl quietly, like other Unix
//! tools; any other write error (`>/dev/full`) is one `error: cannot write to stdout` line and
//! exit 1, after the command did its work; `-l` selectors follow kubectl's grammar end to end, and anything else is exit 2.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_pvectl_quietly() {
    let env = Env::new().await;
    env.seed().await;
    env.run(&["vm", "start", "151"]).expect(0);
    for args in [
        &["vm", "list", "-o", "json"][..],
        &["history", "-o", "json"],
    ] {
        let mut child = env
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before pvectl writes (as `head` does once it has its lines).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        // Ended by SIGPIPE (as `cat` would be), or exited 0 if nothing was left to write.
        assert!(
            out.status.signal() == Some(13) || out.status.success(),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_on_stdout_is_an_error_not_a_panic() {
    let env = Env::new().await;
    env.seed().await;
    for args in [
        &["vm", "list", "-o", "json"][..],
        &["history"],
        &["vm", "start", "151"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = env
            .command(args)
            .stdin(Stdio::null())
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: cannot write to stdout: No space left on device"),
            "{args:?}: {stderr}"
        );
    }
    // The start was done (and journaled) although its output could not be written.
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
    let last = env.journal().pop().unwrap();
    assert_eq!(last["outcome"], "ok", "{last:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_follow_kubectls_grammar() {
    let env = Env::new().await;
    env.seed().await;
    let names = |selector: &str| {
        let r = env
            .run(&["vm", "list", "-l", selector, "-o", "name"])
            .expect(0);
        r.stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(names("env in (prod)"), ["vm/150", "vm/152"]);
    assert_eq!(names("env in (dev,test)"), ["vm/151"]);
    assert_eq!(names("env notin (prod),web"), ["vm/151"]);
    assert_eq!(names("env==prod,!db"), ["vm/150"]);
    for bad in [
        "app=web,,tier",
        "tier=front end",
        "env in ()",
        "env in (prod",
    ] {
        let r = env.run(&["vm", "list", "-l", bad]).expect(2);
        assert!(r.stderr.contains("key in (a,b)"), "{bad}: {}", r.stderr);
        let r = env.run(&["vm", "stop", "-l", bad, "--yes"]).expect(2);
        assert!(r.stderr.contains("selector"), "{bad}: {}", r.stderr);
    }
    assert!(env.writes().await.is_empty());
}
