//! Secrets never leave pvectl: the token secret, login passwords, container root passwords and
//! cloud-init passwords appear in no output of any command, in no error, and not in the journal.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::Env;
use pve_testkit::VmSeed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_output_or_the_journal() {
    let env = Env::new().await;
    env.seed().await;
    env.store_lxc_template().await;
    let login_pw = "L0gin-pw-4f1c9";
    let ct_pw = "Ct-r00t-pw-77aa";
    let ci_pw = "Cl0ud-init-pw-31bb";
    let flag_secret = "Fl4g-t0ken-secret-9e2d";
    env.pve.add_user("ops@pve", login_pw).await;
    std::fs::write(env.path("login-pw"), login_pw).unwrap();
    std::fs::write(env.path("ct-pw"), ct_pw).unwrap();
    let url = env.pve.url().to_string();
    let ca = env.path("ca.pem").display().to_string();
    let login_file = env.path("login-pw").display().to_string();
    let ct_file = env.path("ct-pw").display().to_string();
    let set_ci = format!("cipassword={ci_pw}");
    let set_ci_eq = format!("--set=cipassword={ci_pw}");
    let secrets = [
        env.token_secret.as_str(),
        login_pw,
        ct_pw,
        ci_pw,
        flag_secret,
    ];
    let mut seen = String::new();
    let mut run = |args: &[&str], code: i32| {
        let r = env.run(args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        seen.push_str(&r.stdout);
        seen.push_str(&r.stderr);
    };
    // Contexts: a password login, and a token secret given on the command line.
    run(
        &[
            "config",
            "set-context",
            "ops",
            "--server",
            &url,
            "--user",
            "ops@pve",
            "--password-file",
            &login_file,
            "--ca-file",
            &ca,
        ],
        0,
    );
    run(
        &[
            "config",
            "set-context",
            "flag",
            "--server",
            &url,
            "--token-id",
            "root@pam!other",
            "--token-secret",
            flag_secret,
            "--ca-file",
            &ca,
        ],
        0,
    );
    run(&["config", "view"], 0);
    run(&["config", "view", "-o", "json"], 0);
    run(&["config", "get-contexts"], 0);
    run(&["version", "--context", "ops", "-o", "yaml"], 0);
    // The flag context's token does not exist: the error must not echo the secret.
    run(&["version", "--context", "flag"], 1);
    run(&["vm", "list", "--context", "ops", "-o", "wide"], 0);
    // A container root password, from a file.
    for dry in [true, false] {
        let mut a = vec![
            "ct",
            "create",
            "--vmid",
            "210",
            "--hostname",
            "cache",
            "--ostemplate",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
            "--password-file",
            &ct_file,
        ];
        if dry {
            a.push("--dry-run");
        }
        run(&a, 0);
    }
    // A cloud-init password through --set, both spellings, dry and real, on a password login.
    run(&["vm", "update", "151", "--set", &set_ci, "--dry-run"], 0);
    run(
        &["vm", "update", "151", "--set", &set_ci, "--context", "ops"],
        0,
    );
    run(&["vm", "update", "152", &set_ci_eq], 0);
    run(
        &[
            "vm",
            "create",
            "--vmid",
            "300",
            "--name",
            "ci",
            "--set",
            &set_ci,
            "--dry-run",
        ],
        0,
    );
    run(
        &[
            "vm", "create", "--vmid", "300", "--name", "ci", "--set", &set_ci,
        ],
        0,
    );
    assert!(
        env.pve.guest(151).await.unwrap()["config"]["cipassword"].is_string(),
        "the password did reach Proxmox"
    );
    // Everything that shows a guest's config.
    for id in ["151", "152", "300"] {
        run(&["vm", "describe", id], 0);
        run(&["vm", "get", id, "-o", "json"], 0);
        run(&["vm", "get", id, "-o", "yaml"], 0);
        run(&["export", "vm", id], 0);
    }
    run(&["ct", "describe", "210"], 0);
    run(&["ct", "get", "210", "-o", "json"], 0);
    run(&["export", "ct", "210"], 0);
    // A pending password change on a running VM.
    env.pve.add_vm(VmSeed::new(170, "pending").running()).await;
    run(&["vm", "update", "170", "--set", &set_ci], 0);
    run(&["vm", "describe", "170"], 0);
    // History and the task logs.
    run(&["history", "-o", "wide"], 0);
    run(&["history", "-o", "json"], 0);
    run(&["task", "list", "-o", "json"], 0);
    assert!(seen.contains("(redacted)"), "{seen}");
    let journal = env.journal_text();
    assert!(journal.lines().count() >= 5, "{journal}");
    for s in secrets {
        assert!(!seen.contains(s), "secret {s:?} printed:\n{seen}");
        assert!(
            !journal.contains(s),
            "secret {s:?} in the journal:\n{journal}"
        );
    }
    assert!(
        journal.contains("--set cipassword=(redacted)")
            && journal.contains("--set=cipassword=(redacted)"),
        "{journal}"
    );
}
