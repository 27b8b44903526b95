//! The third way to a real API server for the `real_apiserver` suites: K3s in a Docker
//! container, started with `testcontainers` (`testcontainers-modules`' K3s image), when a
//! Docker engine answers (`docker info`) or `KUBEPVE_TEST_K3S=1` asks for it. Built only with
//! the root package's `k3s` feature (`cargo test --features k3s`); the container is stopped and
//! removed when the returned [`K3sCluster`] is dropped.
//!
//! Unverified on the project's machines, which have no Docker engine: there it is only
//! compiled (`.ci/run` checks `--features k3s`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// A running K3s container and a kubeconfig file that reaches it from this host.
pub struct K3sCluster {
    /// The kubeconfig (admin), its server rewritten to the container's mapped port.
    pub kubeconfig: PathBuf,
    _container: ContainerAsync<K3s>,
    _dir: tempfile::TempDir,
}

/// Starts K3s (privileged, as K3s needs) and waits for its kubeconfig.
pub async fn start() -> K3sCluster {
    let dir = tempfile::tempdir().expect("a temporary folder for the K3s config");
    let container = K3s::default()
        .with_conf_mount(dir.path())
        .with_privileged(true)
        .with_userns_mode("host")
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting the K3s container: {e}"));
    let port = container
        .get_host_port_ipv4(KUBE_SECURE_PORT)
        .await
        .unwrap_or_else(|e| panic!("the K3s API port: {e}"));
    let text = container
        .image()
        .read_kube_config()
        .unwrap_or_else(|e| panic!("reading the K3s kubeconfig: {e}"));
    // K3s writes its in-container address; the API is reached through the mapped port.
    let text = text.replace(
        "https://127.0.0.1:6443",
        &format!("https://127.0.0.1:{port}"),
    );
    let kubeconfig = dir.path().join("kubeconfig-host.yaml");
    std::fs::write(&kubeconfig, text).expect("writing the K3s kubeconfig");
    K3sCluster {
        kubeconfig,
        _container: container,
        _dir: dir,
    }
}
