//! Confirmation prompts: anything but yes (no, an empty line, nonsense, no stdin at all) leaves
//! Proxmox untouched and exits 4; yes proceeds; --yes and --confirm skip the question.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_prompts_change_nothing_and_exit_4() {
    let env = Env::new().await;
    env.seed().await;
    let asking: &[&[&str]] = &[
        &["vm", "stop", "150"],
        &["vm", "delete", "151"],
        &["vm", "delete", "150", "--force"],
        &["vm", "restart", "150,152"],
        &["vm", "shutdown", "-l", "env=prod"],
        &["ct", "stop", "dns-01"],
        &["ct", "delete", "200", "--force", "--purge"],
    ];
    let mut before = Vec::new();
    for v in [150, 151, 152, 200] {
        before.push(env.pve.guest(v).await);
    }
    env.pve.clear_requests().await;
    for args in asking {
        for answer in ["n\n", "no\n", "N\n", "\n", "maybe\n", "yess\n"] {
            let r = env.run_stdin(args, answer);
            assert_eq!(r.code, 4, "{args:?} answered {answer:?}: {r:?}");
            assert!(r.stderr.contains("[y/N]: "), "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("aborted: nothing was changed"),
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        }
        // No stdin at all (a script, CI): "no", and it says how to answer in advance.
        let r = env.run(args);
        assert_eq!(r.code, 4, "{args:?} without stdin: {r:?}");
        assert!(
            r.stderr.contains("no answer on stdin") && r.stderr.contains("--yes"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let writes = env.writes().await;
    assert!(writes.is_empty(), "{writes:?}");
    for (v, b) in [150, 151, 152, 200].iter().zip(before) {
        assert_eq!(env.pve.guest(*v).await, b, "guest {v} changed");
    }
    // The question shows what is at stake.
    let r = env.run_stdin(&["vm", "shutdown", "-l", "env=prod"], "n\n");
    assert!(
        r.stderr.contains("About to shut down:")
            && r.stderr.contains("vm/150 (web-01)  node pve1  running")
            && r.stderr.contains("vm/152 (db-01)  node pve1  running")
            && r.stderr.contains("Continue with 2 guest(s)? [y/N]"),
        "{}",
        r.stderr
    );
    let r = env.run_stdin(&["vm", "stop", "150"], "n\n");
    assert!(r.stderr.contains("hard power-off"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_prompts_proceed() {
    let env = Env::new().await;
    env.seed().await;
    let r = env.run_stdin(&["vm", "stop", "150"], "y\n").expect(0);
    assert!(r.stdout.contains("vm/150 qmstop UPID:"), "{}", r.stdout);
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    env.run_stdin(&["vm", "restart", "150,152"], "YES\n")
        .expect(0);
    assert_eq!(env.status(150).await.as_deref(), Some("running"));
    env.run_stdin(&["vm", "shutdown", "150,152"], " Yes \n")
        .expect(0);
    assert_eq!(env.status(152).await.as_deref(), Some("stopped"));
    let r = env.run_stdin(&["vm", "delete", "151"], "yes\n").expect(0);
    assert!(
        r.stderr
            .contains("Are you sure you want to delete VM 151? [y/N]"),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(151).await.is_none());
    // Skipped with --yes, -y or --confirm: nothing is asked.
    let r = env.run(&["vm", "start", "150,152"]).expect(0);
    assert!(
        !r.stderr.contains("[y/N]"),
        "start never asks: {}",
        r.stderr
    );
    let r = env.run(&["vm", "stop", "150", "-y"]).expect(0);
    assert!(!r.stderr.contains("[y/N]"), "{}", r.stderr);
    env.run(&["ct", "stop", "200", "--confirm"]).expect(0);
    assert_eq!(env.status(200).await.as_deref(), Some("stopped"));
    // One guest: shutdown and restart do not ask.
    env.run(&["vm", "shutdown", "152"]).expect(0);
    env.run(&["vm", "restart", "152"]).expect(0);
    assert_eq!(env.status(152).await.as_deref(), Some("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_question_counts_what_will_change_and_piped_answers_end_their_line() {
    let env = Env::new().await;
    env.seed().await;
    // 150 and 152 run, 151 is stopped: a stop of all changes two.
    let r = env.run_stdin(&["vm", "stop", "--all"], "n\n").expect(4);
    assert!(
        r.stderr
            .contains("note: skipping 1 of 3 guest(s) with nothing to stop: vm/151 (stopped)")
            && r.stderr.contains("Continue with 2 guest(s)? [y/N]: n\n")
            && !r.stderr.contains("vm/151 (web-02)  node"),
        "{}",
        r.stderr
    );
    // The declined stop is journaled with the guests it would have stopped.
    let last = env.journal().last().cloned().unwrap();
    assert_eq!(last["outcome"], "declined", "{last:#}");
    assert_eq!(last["guests"], serde_json::json!(["vm/150", "vm/152"]));
    // Yes: the answer ends its line before the progress lines; no line is said twice.
    let r = env.run_stdin(&["vm", "stop", "--all"], "y\n").expect(0);
    assert!(r.stderr.contains("[y/N]: y\n"), "{}", r.stderr);
    assert!(!r.stderr.contains("TASK OK"), "said twice: {}", r.stderr);
    assert!(r.stderr.contains("vm/150 qmstop: OK"), "{}", r.stderr);
    // Nothing left to stop: nothing to ask.
    let r = env.run(&["vm", "stop", "--all"]).expect(0);
    assert!(!r.stderr.contains("[y/N]"), "{}", r.stderr);
}
