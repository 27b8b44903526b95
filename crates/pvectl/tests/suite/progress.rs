//! The progress display, in a terminal session: on a TTY a spinner with the elapsed time and
//! the task's state, replaced by the outcome when the task ends; piped, plain lines on stderr
//! and nothing but results on stdout.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::Env;
use common::screen::render;
use serde_json::json;

/// The frames of indicatif's default spinner.
const SPINNER: &str = "⠁⠂⠄⡀⢀⠠⠐⠈⠉⠙⠚⠒⠲⠴⠤";

/// A terminal session is bounded: a hung pvectl fails the test instead of stalling the run.
const LIMIT: Duration = Duration::from_secs(60);

fn spinner_frames(transcript: &str) -> std::collections::BTreeSet<char> {
    transcript
        .chars()
        .filter(|c| SPINNER.contains(*c))
        .collect()
}

#[test]
fn the_screen_model_follows_the_terminal() {
    assert_eq!(render("ab\r\ncd", 10), ["ab", "cd"]);
    assert_eq!(render("spin 1\r\x1b[2Kdone\r\n", 10), ["done"]);
    // Exactly the width: the cursor waits at the margin; the next text goes below.
    assert_eq!(render("0123456789\r\x1b[2Kxy", 10), ["xy"]);
    assert_eq!(render("0123456789z", 10), ["0123456789", "z"]);
    assert_eq!(render("a\r\nb\x1b[1A\r\x1b[2Kc", 10), ["c", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_a_spinner_then_the_outcome() {
    let env = Env::new().await;
    env.seed().await;
    // 150 PVE seconds at the fake's 0.01 scale: the start takes about 1.5 s.
    env.pve.guest_attrs(151, json!({"start_secs": 150})).await;
    let (code, out) = env.run_tty(&["vm", "start", "151"], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    // While it ran: a turning spinner, the guest and task type, the elapsed time, the state.
    let frames = spinner_frames(&out);
    assert!(
        frames.len() >= 3,
        "spinner did not turn: {frames:?}\n{out:?}"
    );
    assert!(out.contains("vm/151 qmstart [0s] running"), "{out:?}");
    assert!(out.contains("[1s]"), "elapsed time not shown: {out:?}");
    assert!(
        out.contains("\x1b[2K"),
        "lines are redrawn in place: {out:?}"
    );
    // What stays on the screen: the UPID line, then the outcome in place of the spinner.
    let screen = render(&out, 100);
    assert_eq!(screen.len(), 2, "{screen:#?}");
    assert!(
        screen[0].starts_with("vm/151 qmstart UPID:pve1:"),
        "{screen:#?}"
    );
    assert_eq!(screen[1], "✓ vm/151 qmstart: OK");
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_a_failed_task_and_bulk_spinners() {
    let env = Env::new().await;
    env.seed().await;
    env.pve
        .guest_attrs(
            151,
            json!({"start_secs": 80, "start_error": "no bootable disk"}),
        )
        .await;
    let (code, out) = env.run_tty(&["vm", "start", "151"], LIMIT);
    assert_eq!(code, 1, "{out:?}");
    let screen = render(&out, 100);
    assert!(
        screen
            .iter()
            .any(|l| l == "✗ vm/151 qmstart: no bootable disk"),
        "{screen:#?}"
    );
    assert!(
        screen
            .concat()
            .contains("error: vm/151 (web-02): task UPID:pve1:")
            && screen.concat().ends_with("failed: no bootable disk"),
        "{screen:#?}"
    );
    assert!(
        !screen.iter().any(|l| l.contains("running")),
        "a spinner was left on the screen: {screen:#?}"
    );

    // Two guests at once: two spinners, each replaced by its own outcome.
    env.pve
        .guest_attrs(150, json!({"shutdown_secs": 100}))
        .await;
    env.pve
        .guest_attrs(152, json!({"shutdown_secs": 150}))
        .await;
    let (code, out) = env.run_tty(
        &["vm", "shutdown", "150,152", "--timeout", "300", "--yes"],
        LIMIT,
    );
    assert_eq!(code, 0, "{out:?}");
    assert!(
        out.contains("vm/150 qmshutdown [0s]") && out.contains("vm/152 qmshutdown [0s]"),
        "{out:?}"
    );
    let screen = render(&out, 100);
    for vmid in [150, 152] {
        let done = format!("✓ vm/{vmid} qmshutdown: OK");
        assert!(screen.contains(&done), "{done} missing: {screen:#?}");
        assert!(
            screen
                .iter()
                .any(|l| l.starts_with(&format!("vm/{vmid} qmshutdown UPID:"))),
            "{screen:#?}"
        );
    }
    assert!(
        !screen
            .iter()
            .any(|l| l.chars().any(|c| SPINNER.contains(c))),
        "{screen:#?}"
    );
    assert_eq!(env.status(150).await.as_deref(), Some("stopped"));
    assert_eq!(env.status(152).await.as_deref(), Some("stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_output_is_plain_lines() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.guest_attrs(151, json!({"start_secs": 100})).await;
    // Not PVECTL_PROGRESS=plain: pvectl must see for itself that stderr is a pipe.
    let out = env
        .command(&["vm", "start", "151"])
        .env_remove("PVECTL_PROGRESS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // stdout: only the result, one parseable line.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(fields[..2], ["vm/151", "qmstart"], "{stdout}");
    assert!(fields[2].starts_with("UPID:pve1:"), "{stdout}");
    // stderr: plain lines, no spinner, no escape sequences, no carriage returns.
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\x1b') && !text.contains('\r'),
            "terminal codes in piped output: {text:?}"
        );
        assert!(spinner_frames(text).is_empty(), "{text:?}");
    }
    assert_eq!(
        stderr.lines().last(),
        Some("vm/151 qmstart: OK"),
        "{stderr}"
    );
    assert!(
        stderr.lines().all(|l| l.starts_with("vm/151")),
        "every progress line names its guest: {stderr}"
    );
    assert_eq!(env.status(151).await.as_deref(), Some("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_watch_on_a_terminal_shows_status_elapsed_time_and_the_log_as_it_grows() {
    let env = Env::new().await;
    env.seed().await;
    let upid = env
        .pve
        .start_task(
            pve_testkit::TaskSeed::new("qmigrate", "150")
                .secs(150.0)
                .log(&["migration started", "migration finished"]),
        )
        .await;
    let (code, out) = env.run_tty(&["task", "watch", &upid], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    assert!(
        spinner_frames(&out).len() >= 3,
        "spinner did not turn: {out:?}"
    );
    assert!(
        out.contains("qmigrate 150 [") && out.contains("] running"),
        "{out:?}"
    );
    assert!(out.contains("[1s]"), "elapsed time not shown: {out:?}");
    // The log stays on the screen above the outcome.
    let screen = render(&out, 100);
    assert_eq!(
        screen[..3],
        ["migration started", "migration finished", "TASK OK"],
        "{screen:#?}"
    );
    assert!(
        screen[3].starts_with("✓ qmigrate 150: OK after "),
        "{screen:#?}"
    );
    assert_eq!(screen.len(), 4, "{screen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_steps_stay_on_the_screen() {
    let env = Env::new().await;
    env.seed().await;
    env.pve.guest_attrs(150, json!({"stop_secs": 80})).await;
    let (code, out) = env.run_tty(&["vm", "delete", "150", "--force", "--yes"], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    let screen = render(&out, 100);
    let at = |prefix: &str| {
        screen
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line on the screen: {screen:#?}"))
    };
    assert!(
        at("✓ vm/150 qmstop: OK") < at("✓ vm/150 qmdestroy: OK"),
        "{screen:#?}"
    );
    assert!(
        at("vm/150 qmstop UPID:") < at("✓ vm/150 qmstop: OK"),
        "{screen:#?}"
    );
}

/// The transcript's text after `line` up to the next line break or escape sequence.
fn after(out: &str, line: &str) -> String {
    let at = out
        .find(line)
        .unwrap_or_else(|| panic!("no {line:?} in {out:?}"));
    out[at + line.len()..].chars().take(3).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_lines_end_with_their_newline_and_are_not_padded() {
    let env = Env::new().await;
    env.seed().await;
    let (code, out) = env.run_tty(&["vm", "start", "151"], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(after(&out, "✓ vm/151 qmstart: OK"), "\r\n", "{out:?}");
    let upid = env
        .pve
        .start_task(pve_testkit::TaskSeed::new("qmigrate", "150").secs(50.0))
        .await;
    let (code, out) = env.run_tty(&["task", "watch", &upid], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    let done = out.find("✓ qmigrate 150: OK after ").unwrap();
    let rest = &out[done..];
    let end = rest.find('s').unwrap() + 1;
    assert_eq!(&rest[end..end + 2], "\r\n", "{out:?}");
    // A note on stderr ends its line before the next stdout line.
    let (code, out) = env.run_tty(&["vm", "delete", "150", "--force", "--yes"], LIMIT);
    assert_eq!(code, 0, "{out:?}");
    let saved = out.find("configuration saved to ").unwrap();
    let json = out[saved..].find(".json").unwrap() + saved + ".json".len();
    assert_eq!(&out[json..json + 2], "\r\n", "{out:?}");
}
