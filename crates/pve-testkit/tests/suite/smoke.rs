//! The harness itself: the fake starts on loopback, answers over HTTPS, and is driven.

#![allow(clippy::unwrap_used)]

use pve_testkit::{FakePve, VmSeed};

#[tokio::test]
async fn starts_on_loopback_and_seeds_a_vm() {
    let pve = FakePve::start().await;
    assert!(pve.url().starts_with("https://127.0.0.1:"));
    assert_eq!(pve.fingerprint().len(), 32 * 3 - 1);
    assert!(pve.ca_pem().contains("BEGIN CERTIFICATE"));
    pve.add_vm(VmSeed::new(100, "web").running()).await;
    let guest = pve.guest(100).await.expect("seeded guest");
    assert_eq!(guest["status"], "running");
    assert!(pve.guest(999).await.is_none());
    pve.stop().await;
}

#[tokio::test]
async fn seeds_many_vms_in_one_request() {
    let pve = FakePve::start().await;
    let seeds: Vec<VmSeed> = (200..210)
        .map(|vmid| VmSeed::new(vmid, &format!("batch-{vmid}")).running())
        .collect();
    pve.add_vms(&seeds).await;
    for vmid in [200, 209] {
        let guest = pve.guest(vmid).await.expect("batch-seeded guest");
        assert_eq!(guest["status"], "running");
    }
    assert!(pve.guest(210).await.is_none());
    pve.stop().await;
}

#[tokio::test]
async fn bad_control_op_is_an_error() {
    let pve = FakePve::start().await;
    let err = pve.try_op("no_such_op", serde_json::json!({})).await;
    assert!(err.is_err());
}

#[tokio::test]
async fn missing_venv_fails_with_make_venv_hint() {
    let err = FakePve::builder()
        .venv("/nonexistent/kubepve-venv")
        .try_start()
        .await
        .expect_err("no venv there");
    assert!(err.to_string().contains("run `make venv`"), "{err}");
}

#[tokio::test]
async fn venv_without_fakepve_fails_with_make_venv_hint() {
    // A venv whose Python lacks fakepve: the launcher's own import check speaks.
    let dir = tempfile_dir();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("python");
    std::fs::write(&script, "#!/bin/sh\nexec python3.11 -I \"$@\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let err = FakePve::builder()
        .venv(&dir)
        .try_start()
        .await
        .expect_err("fakepve is not importable there");
    assert!(err.to_string().contains("run `make venv`"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kubepve-novenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
