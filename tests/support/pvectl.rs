//! The real `pvectl` binary, configured for an [`Env`](super::guest::Env)'s fakepve, for the
//! scenarios where the CLI and the operator meet (export from one, apply to the other).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use pve_testkit::{FakePve, Token};

/// pvectl with its own config, state directory and context `lab`.
pub struct Pvectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// The workspace's pvectl binary. `cargo nextest run --workspace` (and so `make test`) builds it
/// next to the test binaries for pvectl's own tests; a run of this package alone builds it here
/// once. It is never rebuilt when present: pvectl's tests may be running it.
fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Test binaries live in <target>/debug/deps; pvectl in <target>/debug.
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .unwrap()
            .join("pvectl");
        if !bin.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "pvectl"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build -p pvectl");
            assert!(status.success(), "cargo build -p pvectl failed");
        }
        assert!(bin.exists(), "pvectl not found at {}", bin.display());
        bin
    })
    .clone()
}

impl Pvectl {
    /// pvectl with a context `lab` for `pve`, authenticated by `token`.
    pub fn new(pve: &FakePve, token: &Token) -> Self {
        let cli = Self {
            bin: binary(),
            dir: tempfile::tempdir().unwrap(),
        };
        let ca = cli.dir.path().join("ca.pem");
        let secret = cli.dir.path().join("token");
        std::fs::write(&ca, pve.ca_pem()).unwrap();
        std::fs::write(&secret, &token.secret).unwrap();
        let args = [
            "config",
            "set-context",
            "lab",
            "--server",
            pve.url(),
            "--token-id",
            &token.id,
            "--token-secret-file",
            secret.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
            "--use",
        ];
        let (code, _, err) = cli.run(&args);
        assert_eq!(code, 0, "{err}");
        cli
    }

    /// Runs pvectl; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(&self.bin)
            .args(args)
            .env("PVECTL_CONFIG", self.dir.path().join("config.yaml"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("PVECTL_CONTEXT")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A path in pvectl's private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
