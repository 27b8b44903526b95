//! A real Kubernetes API server for the end-to-end suites.
//!
//! `KUBEPVE_TEST_KUBECONFIG` points at an existing cluster (kind, k3d, ...). Otherwise
//! `KUBEBUILDER_ASSETS` names a folder with `etcd` and `kube-apiserver` (the envtest
//! convention): this module starts both on free loopback ports, with a CA, a serving certificate
//! and an admin client certificate (group `system:masters`) it generates, and stops them on drop.
//! Otherwise, with a Docker engine (`docker info` succeeds) or `KUBEPVE_TEST_K3S=1`, K3s in a
//! container (`support/k3s.rs`, built with the `k3s` feature). With none of these,
//! [`TestEnv::start`] returns `None` so the suite can print one SKIPPED line, unless
//! `KUBEPVE_REQUIRE_APISERVER=1` asks for a failure instead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki::Pki;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// How long the API server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running (or borrowed) API server and an admin client for it.
pub struct TestEnv {
    /// Admin client.
    pub client: Client,
    /// What the environment is, for messages.
    pub description: String,
    /// A kubeconfig file for the admin client, for processes such as `kubepve run`.
    pub kubeconfig: PathBuf,
    processes: Vec<Child>,
    dir: Option<tempfile::TempDir>,
    /// What must live as long as the environment (a K3s container).
    keep: Option<Box<dyn std::any::Any>>,
}

/// Whether a Docker engine answers (`docker info` exits 0).
fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The line the suites print when no API server is configured.
pub fn skipped_line(suite: &str) -> String {
    format!(
        "SKIPPED: {suite}: no real API server (set KUBEBUILDER_ASSETS to a folder with etcd and \
         kube-apiserver, or KUBEPVE_TEST_KUBECONFIG to a cluster's kubeconfig, or run Docker \
         and build with --features k3s)"
    )
}

impl TestEnv {
    /// Starts or connects to the configured API server; `None` when none is configured (and
    /// `KUBEPVE_REQUIRE_APISERVER` is not set).
    pub async fn start(suite: &str) -> Option<TestEnv> {
        if let Some(path) = std::env::var_os("KUBEPVE_TEST_KUBECONFIG") {
            return Some(Self::from_kubeconfig(Path::new(&path)).await);
        }
        if let Some(assets) = std::env::var_os("KUBEBUILDER_ASSETS") {
            return Some(Self::from_assets(Path::new(&assets)).await);
        }
        let asked = std::env::var("KUBEPVE_TEST_K3S").is_ok_and(|v| v == "1");
        if asked || docker_answers() {
            #[cfg(feature = "k3s")]
            return Some(Self::from_k3s().await);
            #[cfg(not(feature = "k3s"))]
            if asked {
                panic!("KUBEPVE_TEST_K3S=1 needs the k3s feature: cargo test --features k3s");
            }
        }
        let line = skipped_line(suite);
        if std::env::var("KUBEPVE_REQUIRE_APISERVER").is_ok_and(|v| v == "1") {
            panic!("KUBEPVE_REQUIRE_APISERVER=1 but {line}");
        }
        eprintln!("{line}");
        println!("{line}");
        None
    }

    #[cfg(feature = "k3s")]
    async fn from_k3s() -> TestEnv {
        let cluster = super::k3s::start().await;
        let mut env = Self::from_kubeconfig(&cluster.kubeconfig).await;
        env.description = "K3s in a Docker container (testcontainers)".into();
        env.keep = Some(Box::new(cluster));
        env.wait_ready().await;
        env
    }

    async fn from_kubeconfig(path: &Path) -> TestEnv {
        let kubeconfig = Kubeconfig::read_from(path)
            .unwrap_or_else(|e| panic!("reading KUBEPVE_TEST_KUBECONFIG {}: {e}", path.display()));
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("loading KUBEPVE_TEST_KUBECONFIG {}: {e}", path.display()));
        TestEnv {
            client: Client::try_from(config).expect("client from kubeconfig"),
            description: format!("cluster from {}", path.display()),
            kubeconfig: path.to_path_buf(),
            processes: Vec::new(),
            dir: None,
            keep: None,
        }
    }

    async fn from_assets(assets: &Path) -> TestEnv {
        let etcd_bin = assets.join("etcd");
        let apiserver_bin = assets.join("kube-apiserver");
        for bin in [&etcd_bin, &apiserver_bin] {
            assert!(bin.is_file(), "KUBEBUILDER_ASSETS has no {}", bin.display());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::generate(dir.path());
        let [etcd_port, peer_port, api_port] = free_ports();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = spawn(
            Command::new(&etcd_bin)
                .arg("--name=kubepve-test")
                .arg(format!("--data-dir={}", dir.path().join("etcd").display()))
                .arg(format!("--listen-client-urls={etcd_url}"))
                .arg(format!("--advertise-client-urls={etcd_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=kubepve-test={peer_url}")),
            &dir.path().join("etcd.log"),
        );
        let apiserver = spawn(
            Command::new(&apiserver_bin)
                .arg(format!("--etcd-servers={etcd_url}"))
                .arg(format!("--cert-dir={}", dir.path().display()))
                .arg("--bind-address=127.0.0.1")
                .arg("--advertise-address=127.0.0.1")
                .arg(format!("--secure-port={api_port}"))
                .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
                .arg(format!(
                    "--tls-private-key-file={}",
                    pki.serving_key.display()
                ))
                .arg(format!("--client-ca-file={}", pki.ca_cert.display()))
                .arg("--service-cluster-ip-range=10.0.0.0/24")
                .arg(format!(
                    "--service-account-issuer=https://127.0.0.1:{api_port}"
                ))
                .arg(format!(
                    "--service-account-key-file={}",
                    pki.sa_pub.display()
                ))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    pki.sa_key.display()
                ))
                .arg("--authorization-mode=RBAC")
                .arg("--disable-admission-plugins=ServiceAccount")
                .arg("--allow-privileged=true"),
            &dir.path().join("kube-apiserver.log"),
        );
        let mut config = Config::new(format!("https://127.0.0.1:{api_port}").parse().unwrap());
        config.root_cert = Some(vec![pki.ca_der.clone()]);
        config.auth_info = AuthInfo {
            client_certificate: Some(pki.admin_cert.display().to_string()),
            client_key: Some(pki.admin_key.display().to_string()),
            ..AuthInfo::default()
        };
        let client = Client::try_from(config).expect("client for the test API server");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, pki.kubeconfig(api_port)).expect("write the test kubeconfig");
        let mut env = TestEnv {
            client,
            description: format!(
                "kube-apiserver from {} on port {api_port}",
                assets.display()
            ),
            kubeconfig,
            processes: vec![apiserver, etcd],
            dir: Some(dir),
            keep: None,
        };
        env.wait_ready().await;
        env
    }

    async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
            match self.client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return,
                outcome => {
                    for child in &mut self.processes {
                        if let Ok(Some(status)) = child.try_wait() {
                            panic!(
                                "a test control-plane process exited with {status}\n{}",
                                self.logs()
                            );
                        }
                    }
                    if started.elapsed() > READY_TIMEOUT {
                        panic!(
                            "API server not ready after {READY_TIMEOUT:?}: {outcome:?}\n{}",
                            self.logs()
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Server-side applies every CRD of `crds/` and waits (bounded) until each is Established.
    pub async fn install_crds(&self) {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        use kube::ResourceExt;
        use kube::api::{Api, Patch, PatchParams};
        use kube::runtime::wait::{await_condition, conditions};
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 6, "crds/ holds the six CRDs");
        for file in files {
            let crd: CustomResourceDefinition =
                serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let name = crd.name_any();
            api.patch(
                &name,
                &PatchParams::apply("kubepve-test").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("the API server refused {}: {e}", file.display()));
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(api.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .unwrap_or_else(|_| panic!("{name} not Established within 30 s"))
            .unwrap();
        }
    }

    /// The tails of the control-plane logs, for failure messages.
    pub fn logs(&self) -> String {
        let Some(dir) = &self.dir else {
            return String::new();
        };
        ["etcd.log", "kube-apiserver.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {name} (last lines)\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(command: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()))
}

/// Three distinct free loopback ports.
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind loopback"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2]]
}

/// The table `kubectl get` prints for `plural` in `ns`: the header row, then one row per object.
pub async fn table(client: &Client, ns: &str, plural: &str) -> Vec<Vec<String>> {
    let request = http::Request::get(format!(
        "/apis/kubepve.io/v1alpha1/namespaces/{ns}/{plural}"
    ))
    .header("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
    .body(Vec::new())
    .unwrap();
    let table: serde_json::Value =
        serde_json::from_str(&client.request_text(request).await.unwrap()).unwrap();
    let cell = |c: &serde_json::Value| {
        c.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| c.to_string())
    };
    let mut rows = vec![
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| cell(&c["name"]))
            .collect(),
    ];
    for row in table["rows"].as_array().unwrap() {
        rows.push(row["cells"].as_array().unwrap().iter().map(cell).collect());
    }
    rows
}

/// The field manager of the suites' server-side applies.
pub const TEST_MANAGER: &str = "kubepve-test";

/// Server-side applies `doc` (forced, as [`TEST_MANAGER`]), retrying for a while when a CRD
/// established a moment ago is not served yet; any other error fails the caller.
pub async fn apply<K>(api: &kube::Api<K>, doc: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    use kube::api::{Patch, PatchParams};
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let params = PatchParams::apply(TEST_MANAGER).force();
    for attempt in 0.. {
        match api.patch(&name, &params, &Patch::Apply(&doc)).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 && attempt < 40 => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("applying {name}: {e}"),
        }
    }
}

/// Deletes every ProxmoxConnection in `ns` and waits (at most 60 s) until they are gone. Call it
/// while the operator still runs and after the guests are gone: a connection keeps its
/// finalizer while guest objects use it, and only the operator removes it; without this a later
/// namespace deletion would wait for ever. Returns whether they went.
pub async fn delete_connections(client: &Client, ns: &str) -> bool {
    use kube::api::{Api, DeleteParams, ListParams};
    let conns: Api<kubepve_api::ProxmoxConnection> = Api::namespaced(client.clone(), ns);
    let _ = conns
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    for _ in 0..240 {
        if conns
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.is_empty())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// The operator's controllers running in this process against an API server, for namespace
/// `ns`, with a 200 ms task poll; they stop when this is dropped or [`InProcessOperator::stop`]s.
pub struct InProcessOperator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl InProcessOperator {
    /// Starts the controllers, keeping configuration backups in `ns` too.
    pub fn start(client: &Client, ns: &str) -> Self {
        Self::with_backups_in(client, ns, ns)
    }

    /// Starts the controllers for `ns`, keeping configuration backups in `backup_ns` (which
    /// must exist).
    pub fn with_backups_in(client: &Client, ns: &str, backup_ns: &str) -> Self {
        use kubepve::context::{Context, Settings};
        let backups = kubepve::guest::backup::BackupSettings {
            namespace: backup_ns.to_string(),
            ..Default::default()
        };
        let settings = Settings {
            task_poll: Duration::from_millis(200),
            ..Settings::default()
        };
        let ctx = std::sync::Arc::new(Context::new(
            client.clone(),
            kubepve::metrics::Metrics::new(),
            settings,
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kubepve::run::controllers(
            ctx,
            backups,
            Some(ns.to_string()),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks the controllers to stop and waits for them (at most 30 s).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for InProcessOperator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
