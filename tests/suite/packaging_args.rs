//! The arguments the kustomize install (`config/manager/manager.yaml`) passes to the container are
//! ones `kubepve` accepts: a renamed flag would otherwise be found only by a crash-looping pod.
//! (The Helm chart renders the same arguments; `make helm-lint` compares the two.)

use std::path::Path;
use std::process::Command;

fn manager_container() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/manager/manager.yaml");
    let text = std::fs::read_to_string(&path).expect("config/manager/manager.yaml exists");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    doc["spec"]["template"]["spec"]["containers"][0].clone()
}

fn manager_args() -> Vec<String> {
    manager_container()["args"]
        .as_array()
        .expect("the manager container has args")
        .iter()
        .map(|a| a.as_str().expect("string argument").to_string())
        .collect()
}

#[test]
fn manager_args_are_accepted_by_kubepve_run() {
    let args = manager_args();
    assert_eq!(args.first().map(String::as_str), Some("run"));
    for flag in ["--leader-elect", "--log-json"] {
        assert!(
            args.iter().any(|a| a == flag),
            "the Deployment passes {flag}"
        );
    }
    let home = tempfile::tempdir().expect("temp dir");
    // No cluster here: the binary must get past argument parsing and stop at the missing
    // Kubernetes configuration (exit 1), not at a usage error (clap exits 2).
    let out = Command::new(env!("CARGO_BIN_EXE_kubepve"))
        .args(&args)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("KUBECONFIG", home.path().join("missing-kubeconfig"))
        .env("HOME", home.path())
        .env("RUST_BACKTRACE", "0")
        // What the Deployment's downward API sets (checked below).
        .env("POD_NAMESPACE", "kubepve-system")
        .output()
        .expect("kubepve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "kubepve rejected the Deployment's arguments {args:?}: {stderr}"
    );
    assert!(
        stderr.contains("kubeconfig"),
        "kubepve parsed the arguments and stopped at the missing cluster config: {stderr}"
    );
}

#[test]
fn backups_go_to_the_pods_namespace_and_outside_a_cluster_one_must_be_named() {
    // The Deployment tells the operator its namespace (the default backup namespace).
    let env = manager_container()["env"].clone();
    let pod_ns = env
        .as_array()
        .expect("the manager container has env")
        .iter()
        .find(|e| e["name"] == "POD_NAMESPACE")
        .expect("POD_NAMESPACE is set");
    assert_eq!(
        pod_ns["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    // Outside a cluster, with nothing naming it: a clear error that says what to set.
    let out = Command::new(env!("CARGO_BIN_EXE_kubepve"))
        .args(["run", "--probe-addr", "127.0.0.1:0"])
        .env_remove("POD_NAMESPACE")
        .env_remove("KUBEPVE_BACKUP_NAMESPACE")
        .output()
        .expect("kubepve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--backup-namespace"), "{stderr}");
}

#[test]
fn a_wrong_flag_is_a_usage_error() {
    // The check above relies on clap's exit code 2 for bad arguments.
    let out = Command::new(env!("CARGO_BIN_EXE_kubepve"))
        .args(["run", "--no-such-flag"])
        .output()
        .expect("kubepve runs");
    assert_eq!(out.status.code(), Some(2));
}
