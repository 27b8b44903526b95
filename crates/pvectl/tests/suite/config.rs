//! End to end: contexts, environment overrides, secrets never printed, usage errors.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_and_secrets() {
    let env = Env::new().await;
    let r = env.run(&["config", "view"]).expect(0);
    assert!(r.stdout.contains("token-secret-file: "), "{}", r.stdout);
    assert!(
        !r.stdout.contains(&env.token_secret),
        "secret printed: {}",
        r.stdout
    );
    let r = env.run(&["config", "get-contexts"]).expect(0);
    assert!(
        r.stdout.contains("lab") && r.stdout.contains("ca-file"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&env.token_secret));
    env.run(&["config", "current-context"]).expect(0);
    // The file keeps a reference to the secret file, not the secret; it is readable only by its
    // owner.
    let text = std::fs::read_to_string(env.path("config.yaml")).unwrap();
    assert!(!text.contains(&env.token_secret), "{text}");
    let token_file = std::fs::canonicalize(env.path("token")).unwrap();
    assert!(
        text.contains(&format!("token-secret-file: {}", token_file.display())),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("config.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "config readable by others: {mode:o}");
    }
    // A second context pinned by fingerprint works too.
    let url = env.pve.url().to_string();
    let fp = env.pve.fingerprint().to_string();
    let secret = env.path("token").display().to_string();
    env.run(&[
        "config",
        "set-context",
        "pinned",
        "--server",
        &url,
        "--token-id",
        "root@pam!pvectl",
        "--token-secret-file",
        &secret,
        "--fingerprint",
        &fp,
    ])
    .expect(0);
    let r = env
        .run(&["version", "--context", "pinned", "-o", "json"])
        .expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["context"], "pinned");
    assert!(!r.stdout.contains(&env.token_secret));
    // A wrong fingerprint fails with a hint about TLS.
    env.run(&[
        "config",
        "set-context",
        "bad",
        "--server",
        &url,
        "--token-id",
        "root@pam!pvectl",
        "--token-secret-file",
        &secret,
        "--fingerprint",
        "not-a-fingerprint",
    ])
    .expect(2);
    let bad_fp = format!("{}AB", "AB:".repeat(31));
    env.run(&[
        "config",
        "set-context",
        "bad",
        "--server",
        &url,
        "--token-id",
        "root@pam!pvectl",
        "--token-secret-file",
        &secret,
        "--fingerprint",
        &bad_fp,
    ])
    .expect(0);
    let r = env.run(&["version", "--context", "bad"]).expect(1);
    assert!(
        r.stderr.contains("fingerprint") || r.stderr.contains("TLS"),
        "{}",
        r.stderr
    );
    // Unknown context: usage error.
    let r = env.run(&["version", "--context", "nope"]).expect(2);
    assert!(r.stderr.contains("get-contexts"), "{}", r.stderr);
    // use-context and delete-context.
    env.run(&["config", "use-context", "pinned"]).expect(0);
    let r = env.run(&["config", "current-context"]).expect(0);
    assert_eq!(r.stdout.trim(), "pinned");
    env.run(&["config", "delete-context", "bad"]).expect(0);
    env.run(&["config", "use-context", "bad"]).expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_without_a_file() {
    let env = Env::new().await;
    let token = format!("root@pam!pvectl={}", env.token_secret);
    let out = env
        .command(&["version", "-o", "json"])
        .env("PVECTL_CONFIG", env.path("none.yaml"))
        .env("PVE_URL", env.pve.url())
        .env("PVE_TOKEN", &token)
        .env("PVE_FINGERPRINT", env.pve.fingerprint())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"context\": \"env\""), "{stdout}");
    assert!(!stdout.contains(&env.token_secret));
    // No config at all: a usage error that says how to make one.
    let out = env
        .command(&["vm", "list"])
        .env("PVECTL_CONFIG", env.path("none.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set-context"));
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let bin = env!("CARGO_BIN_EXE_pvectl");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    assert_eq!(run(&["vm", "frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["vm", "list", "-o", "xml"]).status.code(), Some(2));
    let help = run(&["vm", "delete", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
    let comp = run(&["completion", "bash"]);
    assert!(String::from_utf8_lossy(&comp.stdout).contains("pvectl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_are_read_at_use_and_inline_secrets_keep_working() {
    let env = Env::new().await;
    // The reference is read at each use: a rotated token works without touching the config.
    env.run(&["version"]).expect(0);
    std::fs::write(env.path("token"), "wrong-secret").unwrap();
    let r = env.run(&["version"]);
    assert!(
        r.code != 0 && r.stderr.contains("authentication failed"),
        "{r:?}"
    );
    std::fs::write(env.path("token"), format!("{}\n", env.token_secret)).unwrap();
    env.run(&["version"]).expect(0);
    // A missing file is a usage error naming it, at set-context and at use.
    let gone = env.path("gone");
    let r = env
        .run(&[
            "config",
            "set-context",
            "lab",
            "--password-file",
            &gone.display().to_string(),
        ])
        .expect(2);
    assert!(
        r.stderr.contains("cannot read the secret file"),
        "{}",
        r.stderr
    );
    // An older config with the secret inline still works.
    let text = std::fs::read_to_string(env.path("config.yaml")).unwrap();
    let token_file = std::fs::canonicalize(env.path("token")).unwrap();
    let inline = text.replace(
        &format!("token-secret-file: {}", token_file.display()),
        &format!("token-secret: {}", env.token_secret),
    );
    assert_ne!(inline, text);
    std::fs::write(env.path("config.yaml"), inline).unwrap();
    std::fs::remove_file(env.path("token")).unwrap();
    env.run(&["version"]).expect(0);
    let r = env.run(&["config", "view"]).expect(0);
    assert!(
        !r.stdout.contains(&env.token_secret) && r.stdout.contains("token-secret: (redacted)"),
        "{}",
        r.stdout
    );
    // Tables, JSON and names for view and get-contexts.
    let r = env.run(&["config", "view", "-o", "table"]).expect(0);
    assert!(r.stdout.starts_with("CURRENT   NAME"), "{}", r.stdout);
    let r = env.run(&["config", "get-contexts", "-o", "wide"]).expect(0);
    assert!(
        r.stdout.contains("SECRET") && r.stdout.contains("inline"),
        "{}",
        r.stdout
    );
    let r = env.run(&["config", "get-contexts", "-o", "json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["name"], "lab");
    assert_eq!(v[0]["current"], true);
    assert_eq!(v[0]["token-secret"], "(redacted)");
    let r = env.run(&["config", "get-contexts", "-o", "name"]).expect(0);
    assert_eq!(r.stdout, "lab\n");
}
