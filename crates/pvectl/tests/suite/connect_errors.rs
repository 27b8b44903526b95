//! End to end (issue 15): what pvectl says when it cannot talk to Proxmox as configured. A wrong
//! pin shows the fingerprint the server presented (as ssh does) and does not claim the endpoint
//! was not reached; an unpinned self-signed certificate shows the fingerprint to pin and the
//! `--fingerprint` flag; `PVE_URL` without a scheme or with `http://` says what to write (exit 2).

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, Run};

fn with_env(env: &Env, vars: &[(&str, &str)]) -> Run {
    let token = format!("root@pam!pvectl={}", env.token_secret);
    let mut c = env.command(&["version"]);
    c.env("PVECTL_CONFIG", env.path("none.yaml"))
        .env("PVE_TOKEN", &token);
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.stdin(std::process::Stdio::null()).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refusals_show_the_presented_fingerprint_and_what_to_do() {
    let env = Env::new().await;
    let presented = env.pve.fingerprint().to_uppercase();
    let url = env.pve.url().to_string();
    let wrong = format!("{}AB", "AB:".repeat(31));
    let r = with_env(&env, &[("PVE_URL", &url), ("PVE_FINGERPRINT", &wrong)]).expect(1);
    assert!(r.stderr.contains(&presented), "{}", r.stderr);
    assert!(r.stderr.contains(&wrong), "{}", r.stderr);
    assert!(!r.stderr.contains("not reached"), "{}", r.stderr);
    assert!(r.stderr.contains("pvenode cert info"), "{}", r.stderr);
    // No pin and no CA: the private CA is not among the system roots.
    let r = with_env(&env, &[("PVE_URL", &url)]).expect(1);
    assert!(r.stderr.contains("not trusted"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("--fingerprint {presented}")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not reached"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_in_a_context_names_the_context_and_no_rustls_internals() {
    let env = Env::new().await;
    let presented = env.pve.fingerprint().to_uppercase();
    let wrong = format!("{}AB", "AB:".repeat(31));
    env.run(&["config", "set-context", "lab", "--fingerprint", &wrong])
        .expect(0);
    let r = env.run(&["vm", "list"]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "pvectl config set-context lab --fingerprint {presented}"
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("CONTEXT"), "{}", r.stderr);
    assert!(!r.stderr.contains("OtherError"), "{}", r.stderr);
    // The same for a password login (the ticket request is the first to meet the pin).
    std::fs::write(env.path("pw"), "secret").unwrap();
    let pw = env.path("pw").display().to_string();
    let url = env.pve.url().to_string();
    env.run(&[
        "config",
        "set-context",
        "pw",
        "--server",
        &url,
        "--user",
        "root@pam",
        "--password-file",
        &pw,
        "--fingerprint",
        &wrong,
        "--use",
    ])
    .expect(0);
    let r = env.run(&["vm", "list"]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "pvectl config set-context pw --fingerprint {presented}"
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("OtherError"), "{}", r.stderr);
    // A server given without a scheme is refused with what to write, as for PVE_URL.
    let r = env
        .run(&["config", "set-context", "x", "--server", "127.0.0.1:8006"])
        .expect(2);
    assert!(
        r.stderr.contains("write https://127.0.0.1:8006"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_url_without_https_says_what_to_write() {
    let env = Env::new().await;
    let port = env.pve.url().rsplit(':').next().unwrap().to_string();
    let bare = format!("127.0.0.1:{port}");
    let r = with_env(&env, &[("PVE_URL", &bare)]).expect(2);
    assert!(
        r.stderr
            .contains(&format!("write https://127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("relative URL"), "{}", r.stderr);
    let http = format!("http://127.0.0.1:{port}");
    let r = with_env(&env, &[("PVE_URL", &http)]).expect(2);
    assert!(r.stderr.contains("HTTPS only"), "{}", r.stderr);
    assert!(!r.stderr.contains("outcome unknown"), "{}", r.stderr);
}

#[test]
fn ct_create_help_is_about_containers_and_examples_keep_their_lines() {
    let bin = env!("CARGO_BIN_EXE_pvectl");
    let help = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ct = help(&["ct", "create", "--help"]);
    for flag in [
        "--hostname",
        "--ostemplate",
        "--rootfs",
        "--unprivileged",
        "--cores",
    ] {
        assert!(ct.contains(flag), "{flag}: {ct}");
    }
    for vm_only in [
        "--sockets",
        "--template",
        "--clone-from",
        "--full",
        "pvectl vm ",
        "template's node",
        "full clone",
    ] {
        assert!(!ct.contains(vm_only), "{vm_only}: {ct}");
    }
    // The commands ct shares with vm show ct examples.
    for cmd in ["list", "start", "delete", "update"] {
        let text = help(&["ct", cmd, "--help"]);
        assert!(!text.contains("pvectl vm "), "ct {cmd}: {text}");
    }
    assert!(help(&["ct", "list", "--help"]).contains("pvectl ct list -l env=prod"));
    let vm = help(&["vm", "create", "--help"]);
    for flag in ["--name", "--sockets", "--template"] {
        assert!(vm.contains(flag), "{flag}: {vm}");
    }
    assert!(
        !vm.contains("--ostemplate") && !vm.contains("pvectl ct "),
        "{vm}"
    );
    // Each example on its own line, as written.
    for (args, line) in [
        (
            vec!["vm", "create", "--help"],
            "  pvectl vm create -f vm.yaml\n",
        ),
        (
            vec!["vm", "update", "--help"],
            "  pvectl vm update -l env=dev --add-tag team.web\n",
        ),
        (
            vec!["vm", "list", "--help"],
            "  pvectl ct list --node pve2 -o name\n",
        ),
        (
            vec!["apply", "--help"],
            "  pvectl apply -f config/samples/\n",
        ),
    ] {
        let text = help(&args);
        assert!(text.contains(line), "{args:?}: {text}");
    }
}
