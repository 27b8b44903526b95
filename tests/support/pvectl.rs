//! The real `pvectl` binary with a config, journal, backups and state of its own in a temporary
//! folder, pointed at a fakepve: for the scenarios where the CLI and the operator meet (export
//! from one, apply to the other), and for `make demo` and `make bench`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use pve_testkit::{FakePve, Token};

/// pvectl with its own folder.
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
    /// The workspace's pvectl with a context `lab` for `pve`, authenticated by `token`.
    pub fn new(pve: &FakePve, token: &Token) -> Self {
        let cli = Self::with_binary(binary());
        let args = cli.context_args("lab", pve, token);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = cli.run(&args);
        assert_eq!(code, 0, "{err}");
        cli
    }

    /// The pvectl binary `bin`, with an empty folder of its own and no context yet.
    pub fn with_binary(bin: PathBuf) -> Self {
        Self {
            bin,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The `config set-context NAME ... --use` arguments for `pve` (made current), with the
    /// token secret and the fake's CA written to files in the folder: never on the line.
    pub fn context_args(&self, name: &str, pve: &FakePve, token: &Token) -> Vec<String> {
        let ca = self.path("pve-root-ca.pem");
        let secret = self.path("token");
        std::fs::write(&ca, pve.ca_pem()).unwrap();
        std::fs::write(&secret, &token.secret).unwrap();
        [
            "config",
            "set-context",
            name,
            "--server",
            pve.url(),
            "--token-id",
            &token.id,
            "--token-secret-file",
            secret.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
            "--use",
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// The command for `pvectl ARGS` with this folder's config, journal, backups and state, and
    /// no stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("PVECTL_CONFIG", self.path("config.yaml"))
            .env("PVECTL_JOURNAL", self.path("journal.db"))
            .env("PVECTL_BACKUP_DIR", self.path("backups"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env_remove("PVECTL_CONTEXT")
            .stdin(Stdio::null());
        command
    }

    /// Runs pvectl; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A path in pvectl's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// pvectl's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
