//! The ProxmoxConnection reconcile against fakepve (real HTTPS) and a mocked Kubernetes API:
//! what it writes into status for a working connection, bad credentials, a missing Secret and a
//! wrong certificate pin, and that credentials never reach status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::sync::Arc;

use kubepve::connection::reconcile;
use kubepve::context::{Context, Settings};
use kubepve::metrics::Metrics;
use kubepve_api::ProxmoxConnection;
use pve_testkit::FakePve;
use serde_json::{Value, json};
use support::mockkube::{MockKube, Recorded, status_error};

const SECRET_NAME: &str = "pve-creds";

fn connection(pve: &FakePve, tls: Value) -> ProxmoxConnection {
    let _ = pve;
    serde_json::from_value(json!({
        "apiVersion": "kubepve.io/v1alpha1",
        "kind": "ProxmoxConnection",
        "metadata": {"name": "lab", "namespace": "default", "generation": 1, "uid": "c0ffee"},
        "spec": {
            "endpoint": pve.url(),
            "credentialsSecretRef": {"name": SECRET_NAME},
            "tls": tls,
        }
    }))
    .unwrap()
}

fn secret(data: &[(&str, &str)]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": "default", "resourceVersion": "7"},
        "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    })
}

/// A mocked API server that serves `secret` (or 404) and accepts status patches.
fn kube(secret: Option<Value>) -> MockKube {
    MockKube::new(move |r: &Recorded| {
        if r.method == "GET" && r.uri.contains("/secrets/") {
            return match &secret {
                Some(s) => (200, s.clone()),
                None => status_error(404, "NotFound", "secrets \"pve-creds\" not found"),
            };
        }
        let path = r.uri.split('?').next().unwrap_or_default();
        if r.method == "PATCH" && (r.uri.contains("/status") || path.ends_with("/lab")) {
            return (
                200,
                json!({
                    "apiVersion": "kubepve.io/v1alpha1", "kind": "ProxmoxConnection",
                    "metadata": {"name": "lab", "namespace": "default"},
                    "spec": {"endpoint": "https://x:8006", "credentialsSecretRef": {"name": SECRET_NAME}},
                }),
            );
        }
        status_error(
            500,
            "InternalError",
            &format!("unexpected request {} {}", r.method, r.uri),
        )
    })
}

async fn run(
    pve: &FakePve,
    conn: ProxmoxConnection,
    secret: Option<Value>,
) -> (Value, Arc<Context>) {
    let kube = kube(secret);
    let ctx = Arc::new(Context::new(
        kube.client.clone(),
        Metrics::new(),
        Settings::default(),
    ));
    reconcile(Arc::new(conn), ctx.clone())
        .await
        .expect("reconcile succeeds");
    // The finalizer that keeps the connection while guests need it to be deleted.
    let finalizer = kube.matching("PATCH", "/proxmoxconnections/lab?");
    assert_eq!(finalizer.len(), 1, "{:?}", kube.requests());
    assert_eq!(
        finalizer[0].body["metadata"]["finalizers"],
        json!([kubepve_api::FINALIZER])
    );
    let patches = kube.matching("PATCH", "/proxmoxconnections/lab/status");
    assert_eq!(patches.len(), 1, "one status write: {:?}", kube.requests());
    assert!(
        patches[0].uri.contains("fieldManager=kubepve"),
        "{}",
        patches[0].uri
    );
    assert!(patches[0].uri.contains("force=true"), "{}", patches[0].uri);
    let _ = pve;
    (patches[0].body["status"].clone(), ctx)
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_working_connection_reports_version_and_nodes() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (status, ctx) = run(&pve, conn, Some(creds)).await;
    assert_eq!(status["reachable"], true, "{status}");
    assert!(
        status["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{status}"
    );
    assert!(!status["nodes"].as_array().unwrap().is_empty(), "{status}");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert!(
        !status.to_string().contains(&token.secret),
        "the token secret leaked into status"
    );
    let key = ("default".to_string(), "lab".to_string());
    assert!(matches!(ctx.connections.get(&key), Some(Ok(_))));
    assert!(ctx.metrics.pve_calls("version", "ok") >= 1);
}

#[tokio::test]
async fn a_fingerprint_pin_is_accepted_when_it_matches() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let conn = connection(&pve, json!({"fingerprint": pve.fingerprint()}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (status, _) = run(&pve, conn, Some(creds)).await;
    assert_eq!(status["reachable"], true, "{status}");
}

#[tokio::test]
async fn a_wrong_token_is_a_stalled_authentication_failure() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let wrong = "11111111-2222-3333-4444-555555555555";
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let (status, ctx) = run(
        &pve,
        conn,
        Some(secret(&[("tokenId", &token.id), ("tokenSecret", wrong)])),
    )
    .await;
    assert_eq!(status["reachable"], false);
    assert_eq!(
        condition(&status, "Stalled")["reason"],
        "AuthenticationFailed",
        "{status}"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert!(
        !status.to_string().contains(wrong),
        "the secret leaked: {status}"
    );
    let key = ("default".to_string(), "lab".to_string());
    assert!(matches!(ctx.connections.get(&key), Some(Err(_))));
}

#[tokio::test]
async fn a_missing_secret_says_which_secret() {
    let pve = FakePve::start().await;
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let (status, _) = run(&pve, conn, None).await;
    assert_eq!(condition(&status, "Stalled")["reason"], "SecretNotFound");
    assert!(
        status["lastError"].as_str().unwrap().contains(SECRET_NAME),
        "{status}"
    );
}

#[tokio::test]
async fn a_mismatched_pin_is_refused() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let wrong_pin = ["AB"; 32].join(":");
    let conn = connection(&pve, json!({"fingerprint": wrong_pin}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (status, _) = run(&pve, conn, Some(creds)).await;
    assert_eq!(status["reachable"], false, "{status}");
    let error = status["lastError"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("fingerprint") || error.contains("certificate"),
        "{error}"
    );
    // Like ssh: the status shows what the server presented, next to the pin.
    assert!(
        error.contains(&pve.fingerprint().to_lowercase())
            && error.contains(&wrong_pin.to_lowercase()),
        "{error}"
    );
    assert!(!error.contains("not reached"), "{error}");
}

#[tokio::test]
async fn an_unverifiable_self_signed_server_is_refused_by_default() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let conn = connection(&pve, json!({}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (status, _) = run(&pve, conn, Some(creds)).await;
    assert_eq!(status["reachable"], false, "{status}");
    // An unknown CA does not fix itself: the user must set caBundle or fingerprint.
    assert_eq!(
        condition(&status, "Stalled")["reason"],
        "TlsRejected",
        "{status}"
    );
    // The fingerprint to pin (spec.fingerprint) is in the status.
    let error = status["lastError"].as_str().unwrap();
    assert!(error.contains(&pve.fingerprint().to_uppercase()), "{error}");
}

/// Runs `n` reconciles of `conn` with one operator context, feeding each status write back into
/// the object as the API server would (so every reconcile sees the status the last one wrote).
/// Returns the status writes and the context.
async fn reconciles(
    conn: ProxmoxConnection,
    secret: Option<Value>,
    n: usize,
) -> (Vec<Recorded>, Arc<Context>) {
    let kube = kube(secret);
    let ctx = Arc::new(Context::new(
        kube.client.clone(),
        Metrics::new(),
        Settings::default(),
    ));
    let mut conn = conn;
    for _ in 0..n {
        let _ = reconcile(Arc::new(conn.clone()), ctx.clone()).await;
        if let Some(last) = kube
            .matching("PATCH", "/proxmoxconnections/lab/status")
            .last()
        {
            conn.status = serde_json::from_value(last.body["status"].clone()).unwrap();
        }
    }
    (
        kube.matching("PATCH", "/proxmoxconnections/lab/status"),
        ctx,
    )
}

/// Login attempts the operator's metrics counted, whatever their outcome.
fn logins(ctx: &Context) -> u64 {
    ctx.metrics
        .encode()
        .lines()
        .filter(|l| {
            l.starts_with("kubepve_pve_requests_total{") && l.contains("operation=\"login\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn password_secret(pve: &FakePve, password: &str) -> Value {
    secret(&[("username", pve.user()), ("password", password)])
}

#[tokio::test]
async fn a_wrong_pin_makes_one_login_attempt_per_reconcile() {
    let pve = FakePve::start().await;
    let wrong_pin = ["AB"; 32].join(":");
    let conn = connection(&pve, json!({"fingerprint": wrong_pin}));
    let creds = password_secret(&pve, pve.password());
    let (_, ctx) = reconciles(conn, Some(creds), 3).await;
    assert_eq!(
        logins(&ctx),
        3,
        "a pin mismatch never fixes itself: one attempt, then the controller's backoff\n{}",
        ctx.metrics.encode()
    );
    assert_eq!(pve.count("POST", "/access/ticket").await, 0);
}

#[tokio::test]
async fn a_wrong_pin_with_a_token_sends_one_request_per_reconcile() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let wrong_pin = ["AB"; 32].join(":");
    let conn = connection(&pve, json!({"fingerprint": wrong_pin}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (writes, ctx) = reconciles(conn, Some(creds), 3).await;
    let attempts: u64 = ["not_sent", "tls_rejected"]
        .iter()
        .map(|outcome| ctx.metrics.pve_calls("version", outcome))
        .sum();
    assert_eq!(attempts, 3, "{}", ctx.metrics.encode());
    let status = &writes.last().unwrap().body["status"];
    assert_eq!(condition(status, "Stalled")["status"], "True", "{status}");
}

#[tokio::test]
async fn a_wrong_password_makes_one_login_attempt_per_reconcile() {
    let pve = FakePve::start().await;
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let (writes, ctx) = reconciles(conn, Some(password_secret(&pve, "not-it")), 3).await;
    assert_eq!(pve.count("POST", "/access/ticket").await, 3);
    assert_eq!(logins(&ctx), 3, "{}", ctx.metrics.encode());
    let status = &writes.last().unwrap().body["status"];
    assert_eq!(
        condition(status, "Stalled")["reason"],
        "AuthenticationFailed",
        "{status}"
    );
}

#[tokio::test]
async fn an_unchanged_connection_writes_its_status_once() {
    let pve = FakePve::start().await;
    let token = pve.create_token("root@pam", "kubepve").await;
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let creds = secret(&[("tokenId", &token.id), ("tokenSecret", &token.secret)]);
    let (writes, _) = reconciles(conn, Some(creds), 6).await;
    assert_eq!(
        writes.len(),
        1,
        "6 reconciles of a connection whose state did not change: every further write moves \
         its resourceVersion for nothing"
    );
    assert_eq!(writes[0].body["status"]["reachable"], true);
}

#[tokio::test]
async fn a_failing_connection_writes_its_status_once_while_the_failure_stays_the_same() {
    let pve = FakePve::start().await;
    let conn = connection(&pve, json!({"caBundle": pve.ca_pem()}));
    let (writes, _) = reconciles(conn, Some(password_secret(&pve, "not-it")), 4).await;
    assert_eq!(writes.len(), 1, "{writes:?}");
}
