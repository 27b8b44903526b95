//! The fakepve process: finding the venv's Python, starting the launcher with a bounded
//! readiness wait, keeping its pipes drained, and killing it when the handle is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::{Error, cert};

/// How long the launcher may take to print its ready line (it loads PVE's schema first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The ready line the launcher prints on stdout.
#[derive(Deserialize)]
struct Ready {
    url: String,
    control: String,
    fakepve: String,
}

/// Options for starting a fake; [`FakePve::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct FakePveBuilder {
    time_scale: f64,
    user: String,
    password: String,
    venv: Option<PathBuf>,
}

impl Default for FakePveBuilder {
    fn default() -> Self {
        Self {
            venv: None,
            time_scale: 0.0,
            user: "root@pam".into(),
            password: "secret".into(),
        }
    }
}

impl FakePveBuilder {
    /// Real seconds per PVE second. 0 (the default) ends every task before its request returns;
    /// 0.01 makes a 60 s shutdown take 0.6 s.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }

    /// The password login (default `root@pam` / `secret`).
    pub fn login(mut self, user: &str, password: &str) -> Self {
        self.user = user.into();
        self.password = password.into();
        self
    }

    /// Use this venv instead of `$KUBEPVE_VENV` or `<workspace>/.venv`.
    pub fn venv(mut self, dir: impl Into<PathBuf>) -> Self {
        self.venv = Some(dir.into());
        self
    }

    /// Start the fake, or say why it could not start.
    pub async fn try_start(self) -> Result<FakePve, Error> {
        let python = python(self.venv.clone())?;
        let dir = tempfile::Builder::new()
            .prefix("kubepve-fakepve-")
            .tempdir()
            .map_err(|e| Error::Io("create temp dir", e))?;
        let pki = cert::generate(dir.path())?;
        let launcher = workspace_root().join("tools/fakepve/launcher.py");
        let mut child = Command::new(&python)
            .arg(&launcher)
            .arg("--cert")
            .arg(&pki.cert_file)
            .arg("--key")
            .arg(&pki.key_file)
            .arg("--time-scale")
            .arg(self.time_scale.to_string())
            .arg("--user")
            .arg(&self.user)
            .arg("--password")
            .arg(&self.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Io("spawn the fakepve launcher", e))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (Some(stdin), Some(stdout), Some(mut stderr)) = (stdin, stdout, stderr) else {
            return Err(Error::Io(
                "launcher pipes",
                std::io::Error::other("missing pipe"),
            ));
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        let ready = match first {
            Ok(Ok(Some(line))) => {
                serde_json::from_str::<Ready>(&line).map_err(|e| Error::Launch {
                    reason: format!("unreadable ready line {line:?}: {e}"),
                    stderr: String::new(),
                })?
            }
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text).await;
                return Err(Error::Launch {
                    reason: format!("launcher exited ({status:?}) before it was ready"),
                    stderr: text,
                });
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(Error::Launch {
                    reason: format!("no ready line within {READY_TIMEOUT:?}"),
                    stderr: String::new(),
                });
            }
        };
        // Keep both pipes drained: a full pipe would stall the fake mid-test.
        tokio::spawn(drain(lines.into_inner(), "stdout"));
        tokio::spawn(drain(stderr, "stderr"));
        tracing::debug!(url = %ready.url, fakepve = %ready.fakepve, "fakepve started");
        Ok(FakePve {
            child,
            _stdin: stdin,
            _dir: dir,
            url: ready.url,
            control_url: format!("{}/op", ready.control),
            version: ready.fakepve,
            ca_pem: pki.ca_pem,
            fingerprint: pki.fingerprint,
            user: self.user,
            password: self.password,
            http: control_client()?,
        })
    }

    /// Start the fake; panics with the reason (for example "run `make venv`") if it cannot.
    pub async fn start(self) -> FakePve {
        match self.try_start().await {
            Ok(pve) => pve,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The control channel is plain HTTP, but reqwest still wants a TLS setup: give it one with the
/// ring provider instead of relying on a process-wide default.
fn control_client() -> Result<reqwest::Client, Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Pki(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .map_err(|e| Error::Control {
            op: "connect".into(),
            message: e.to_string(),
        })
}

async fn drain(pipe: impl AsyncRead + Unpin, name: &'static str) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(pipe = name, "fakepve: {line}");
    }
}

/// The workspace root, from this crate's location (`crates/pve-testkit`).
fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

/// The venv's Python: `$KUBEPVE_VENV/bin/python`, else `<workspace>/.venv/bin/python`.
fn python(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    let venv = explicit
        .or_else(|| {
            std::env::var_os("KUBEPVE_VENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let python = venv.join("bin").join("python");
    if python.exists() {
        Ok(python)
    } else {
        Err(Error::VenvMissing {
            path: python.display().to_string(),
        })
    }
}

/// A running fakepve behind our launcher. Dropping it kills the process.
pub struct FakePve {
    child: Child,
    // Held open: the launcher exits when its stdin closes, even if the kill is missed.
    _stdin: ChildStdin,
    _dir: tempfile::TempDir,
    url: String,
    pub(crate) control_url: String,
    version: String,
    ca_pem: String,
    fingerprint: String,
    user: String,
    password: String,
    pub(crate) http: reqwest::Client,
}

impl std::fmt::Debug for FakePve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePve")
            .field("url", &self.url)
            .field("fakepve", &self.version)
            .finish_non_exhaustive()
    }
}

impl FakePve {
    /// Options for starting a fake.
    pub fn builder() -> FakePveBuilder {
        FakePveBuilder::default()
    }

    /// Start a fake with the defaults (instant tasks, `root@pam` / `secret`); panics with the
    /// reason if it cannot start.
    pub async fn start() -> FakePve {
        FakePveBuilder::default().start().await
    }

    /// The API base URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server certificate's SHA-256 fingerprint in PVE's `AA:BB:...` form.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The password login's user id (`root@pam` unless changed).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password login's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The fakepve version the launcher runs.
    pub fn fakepve_version(&self) -> &str {
        &self.version
    }

    /// The launcher's process id while it runs (benchmarks read its CPU time from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Ask the launcher to stop, then wait for the process (bounded), killing it if needed.
    pub async fn stop(mut self) {
        let _ = self.try_op("shutdown", serde_json::json!({})).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
        }
    }
}
