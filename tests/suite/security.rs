//! Security guarantees of the operator: credentials come only from Secrets and never show in its
//! logs (captured at TRACE), Events, status or errors, whether the login works or fails; a token
//! without the needed privileges gives a clear PermissionDenied condition and creates nothing; a
//! guest owned by another object is never changed; the image and the manifests run as non-root.
//! (TLS verification by default is checked in `connection_reconcile.rs` and
//! `crates/pve-client/tests/suite/auth_tls.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubepve::context::{Context, Settings};
use kubepve::metrics::Metrics;
use kubepve_api::{ProxmoxConnection, ProxmoxVM};
use pve_client::{Auth, Client, Tls};
use pve_testkit::{FakePve, VmSeed};
use serde_json::{Value, json};
use support::fakekube::FakeKube;
use support::guest::{Env, clone_vm, condition, fast_settings, gone, ready, stalled, tags};

/// The operator's token, known to the test so that it can be searched for.
const TOKEN_ID: &str = "root@pam!kubepve";
const TOKEN_SECRET: &str = "5e1f0c2a-7b7d-4c55-9d3e-0a1b2c3d4e5f";

/// Everything the tracing subscriber writes, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs a TRACE subscriber for this thread (the tests run on one thread).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn token_client(pve: &FakePve, _token: &pve_testkit::Token) -> Client {
    Client::builder(pve.url(), Auth::token(TOKEN_ID, TOKEN_SECRET))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .build()
        .unwrap()
}

fn assert_absent(secrets: &[&str], what: &str, text: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret appears in {what}: ...{}...",
            text.split(secret)
                .next()
                .unwrap_or_default()
                .chars()
                .rev()
                .take(200)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        );
    }
}

#[tokio::test]
async fn guest_reconciles_never_log_or_report_the_token_or_a_password() {
    let log = Captured::default();
    let _guard = log.install();
    let env = Env::with_client(
        "proxmoxvms",
        fast_settings(),
        support::guest::POLL_INTERVAL,
        token_client,
    )
    .await;
    env.pve
        .op(
            "create_token",
            json!({"tokenid": TOKEN_ID, "secret": TOKEN_SECRET}),
        )
        .await;
    let password = "Cl0ud-1nit-Passw0rd";
    let ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISecretKeyMaterial42 ops@example";
    env.kube
        .put_secret("ci", &[("password", password), ("keys", ssh_key)]);
    let mut errors = String::new();
    let mut pass = async |env: &Env, name: &str| {
        if let Err(e) = env.pass::<ProxmoxVM>(name).await {
            errors.push_str(&format!("{e}\n{e:?}\n"));
        }
    };
    let cloud_init = json!({
        "user": "debian",
        "passwordSecretRef": {"name": "ci", "key": "password"},
        "sshKeysSecretRef": {"name": "ci", "key": "keys"},
    });
    // Refused by Proxmox with the password among the parameters, then fixed, changed, deleted.
    env.kube.put(clone_vm(
        "sec",
        310,
        json!({"cloudInit": cloud_init, "extraConfig": {"bios": "no-such-bios"}}),
    ));
    for _ in 0..5 {
        pass(&env, "sec").await;
    }
    env.kube.edit_spec("sec", |s| {
        s.as_object_mut().unwrap().remove("extraConfig");
    });
    for _ in 0..support::guest::MAX_PASSES {
        if ready(env.kube.get("sec").as_ref()) {
            break;
        }
        pass(&env, "sec").await;
    }
    assert!(
        ready(env.kube.get("sec").as_ref()),
        "{:#?}",
        env.kube.get("sec")
    );
    env.kube.edit_spec("sec", |s| s["memory"] = json!("3Gi"));
    for _ in 0..10 {
        pass(&env, "sec").await;
    }
    env.kube.delete("sec");
    for _ in 0..support::guest::MAX_PASSES {
        if gone(env.kube.get("sec").as_ref()) {
            break;
        }
        pass(&env, "sec").await;
    }
    assert!(env.kube.get("sec").is_none(), "deleted");

    let secrets = [TOKEN_SECRET, password, "SecretKeyMaterial42"];
    let logs = log.text();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the capture works: {logs}"
    );
    assert_absent(&secrets, "the operator's logs", &logs);
    assert_absent(&secrets, "reconcile errors", &errors);
    for event in env.kube.events() {
        assert_absent(&secrets, "an Event", &event.to_string());
    }
    for request in env.kube.mock.requests() {
        assert_absent(
            &secrets,
            "a request to Kubernetes",
            &request.body.to_string(),
        );
    }
}

fn connection(pve: &FakePve, name: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
        "metadata": {"name": name, "namespace": "default", "generation": 1, "uid": format!("uid-{name}")},
        "spec": {
            "endpoint": pve.url(),
            "credentialsSecretRef": {"name": secret},
            "tls": {"caBundle": pve.ca_pem()},
        }
    })
}

#[tokio::test]
async fn connection_credentials_never_show_whether_the_login_works_or_fails() {
    let log = Captured::default();
    let _guard = log.install();
    let pve = FakePve::builder().start().await;
    pve.op(
        "create_token",
        json!({"tokenid": TOKEN_ID, "secret": TOKEN_SECRET}),
    )
    .await;
    let password = "Adm1n-L0gin-Passw0rd";
    let wrong_secret = "0badc0de-1111-2222-3333-444455556666";
    let wrong_password = "Wr0ng-L0gin-Passw0rd";
    pve.add_user("ops@pve", password).await;
    let kube = FakeKube::new("proxmoxconnections");
    kube.put_secret(
        "token",
        &[("tokenId", TOKEN_ID), ("tokenSecret", TOKEN_SECRET)],
    );
    kube.put_secret(
        "bad-token",
        &[("tokenId", TOKEN_ID), ("tokenSecret", wrong_secret)],
    );
    kube.put_secret("login", &[("username", "ops@pve"), ("password", password)]);
    kube.put_secret(
        "bad-login",
        &[("username", "ops@pve"), ("password", wrong_password)],
    );
    let ctx = Arc::new(Context::new(
        kube.mock.client.clone(),
        Metrics::new(),
        Settings::default(),
    ));
    let mut errors = String::new();
    let cases = [
        ("token", "Connected"),
        ("bad-token", "AuthenticationFailed"),
        ("login", "Connected"),
        ("bad-login", "AuthenticationFailed"),
    ];
    for (secret, reason) in cases {
        let name = format!("conn-{secret}");
        kube.put(connection(&pve, &name, secret));
        let object: ProxmoxConnection = serde_json::from_value(kube.get(&name).unwrap()).unwrap();
        if let Err(e) = kubepve::connection::reconcile(Arc::new(object), ctx.clone()).await {
            errors.push_str(&format!("{e}\n{e:?}\n"));
        }
        let stored = kube.get(&name).unwrap();
        let ready = condition(&stored, "Ready");
        assert_eq!(ready["reason"], reason, "{name}: {:#}", stored["status"]);
        if reason != "Connected" {
            let message = ready["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{name}: a message says why");
        }
    }
    let secrets = [TOKEN_SECRET, wrong_secret, password, wrong_password];
    assert_absent(&secrets, "the operator's logs", &log.text());
    assert_absent(&secrets, "reconcile errors", &errors);
    for (secret, _) in cases {
        let stored = kube.get(&format!("conn-{secret}")).unwrap();
        assert_absent(&secrets, "status", &stored["status"].to_string());
    }
    for event in kube.events() {
        assert_absent(&secrets, "an Event", &event.to_string());
    }
    for request in kube.mock.requests() {
        assert_absent(
            &secrets,
            "a request to Kubernetes",
            &request.body.to_string(),
        );
    }
}

const LIMITED_TOKEN: &str = "auditor@pve!kubepve";
const LIMITED_SECRET: &str = "a0a0a0a0-b1b1-c2c2-d3d3-e4e4e4e4e4e4";

fn limited_client(pve: &FakePve, _token: &pve_testkit::Token) -> Client {
    Client::builder(pve.url(), Auth::token(LIMITED_TOKEN, LIMITED_SECRET))
        .tls(Tls::CaBundle(pve.ca_pem().to_string()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_token_without_the_privileges_gets_a_permission_condition_and_creates_nothing() {
    // A long backoff, so that the passes below fall within it.
    let settings = Settings {
        backoff: (Duration::from_secs(30), Duration::from_secs(60)),
        ..fast_settings()
    };
    let env = Env::with_client(
        "proxmoxvms",
        settings,
        support::guest::POLL_INTERVAL,
        limited_client,
    )
    .await;
    env.pve.add_user("auditor@pve", "unused-password").await;
    env.pve
        .op(
            "create_token",
            json!({"tokenid": LIMITED_TOKEN, "secret": LIMITED_SECRET}),
        )
        .await;
    // It may look, not change.
    env.pve
        .grant(
            "auditor@pve",
            "/",
            &["VM.Audit", "Sys.Audit", "Datastore.Audit"],
        )
        .await;
    env.pve
        .grant(
            "auditor@pve!kubepve",
            "/",
            &["VM.Audit", "Sys.Audit", "Datastore.Audit"],
        )
        .await;
    env.kube.put(clone_vm("web", 320, json!({})));
    let object = env
        .drive::<ProxmoxVM>("web", stalled("PermissionDenied"))
        .await
        .unwrap();
    let message = condition(&object, "Stalled")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.to_lowercase().contains("permission"),
        "the message says a permission is missing: {message}"
    );
    assert_eq!(condition(&object, "Ready")["status"], "False");
    assert!(env.pve.guest(320).await.is_none(), "nothing created");
    let warnings = env.events_with("PermissionDenied");
    assert!(!warnings.is_empty(), "a Warning event");
    // Not retried on every pass: the refusal waits for its backoff.
    let clones = env.count("POST", "/clone").await;
    env.passes::<ProxmoxVM>("web", 10).await;
    assert_eq!(env.count("POST", "/clone").await, clones);
}

#[tokio::test]
async fn a_guest_owned_by_another_object_is_never_changed_or_destroyed() {
    let env = Env::new("proxmoxvms").await;
    // Guest 330 carries the operator's marks, but for another object's uid.
    env.pve
        .add_vm(
            VmSeed::new(330, "someone-elses")
                .running()
                .config("tags", "kubepve;kubepve-owner-uid-other")
                .config("memory", 1024),
        )
        .await;
    env.pve.clear_requests().await;
    env.kube.put(clone_vm("web", 330, json!({"memory": "4Gi"})));
    env.drive::<ProxmoxVM>("web", stalled("Conflict"))
        .await
        .unwrap();
    env.passes::<ProxmoxVM>("web", 5).await;
    // Deleting our object leaves their guest alone too.
    env.kube.delete("web");
    env.drive::<ProxmoxVM>("web", gone).await;

    let writes = env.writes_for(330).await;
    assert!(
        writes.is_empty(),
        "writes reached the other object's guest: {writes:#?}"
    );
    let guest = env.pve.guest(330).await.expect("the guest stays");
    assert_eq!(guest["status"], "running");
    assert_eq!(
        tags(&guest),
        vec!["kubepve".to_string(), "kubepve-owner-uid-other".to_string()]
    );
    assert_eq!(
        guest["config"]["memory"].to_string().trim_matches('"'),
        "1024"
    );
}

#[test]
fn the_image_and_the_manifests_run_as_non_root() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert!(!stages.is_empty());
    for stage in stages.iter().filter(|s| !s.contains(" AS builder")) {
        let user = stage
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("USER "))
            .unwrap_or_else(|| panic!("a runtime stage without USER: {stage}"));
        let uid = user.split(':').next().unwrap().trim();
        assert!(uid != "0" && uid != "root", "runs as {user}: {stage}");
    }
    let manager = std::fs::read_to_string(root.join("config/manager/manager.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&manager).unwrap();
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the manager Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    for container in pod["containers"].as_array().unwrap() {
        let sc = &container["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{container:#}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{container:#}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{container:#}");
    }
}
