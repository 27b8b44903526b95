//! Shared set-up for the end-to-end tests: a fakepve, a temporary config and journal, and a
//! helper that runs the real `pvectl` binary against them.

#![allow(clippy::unwrap_used, dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use pve_testkit::{FakePve, VmSeed};

pub mod screen;

/// A fake Proxmox and a pvectl configured for it.
pub struct Env {
    pub pve: FakePve,
    pub dir: tempfile::TempDir,
    pub token_secret: String,
}

/// What a pvectl run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Env {
    /// A fakepve with a context `lab` (CA file) that is current.
    pub async fn new() -> Self {
        let pve = FakePve::builder().time_scale(0.01).start().await;
        let token = pve.create_token("root@pam", "pvectl").await;
        let dir = tempfile::tempdir().unwrap();
        let env = Self {
            pve,
            dir,
            token_secret: token.secret.clone(),
        };
        std::fs::write(env.path("ca.pem"), env.pve.ca_pem()).unwrap();
        std::fs::write(env.path("token"), &token.secret).unwrap();
        let ca = env.path("ca.pem").display().to_string();
        let secret = env.path("token").display().to_string();
        let url = env.pve.url().to_string();
        env.run(&[
            "config",
            "set-context",
            "lab",
            "--server",
            &url,
            "--token-id",
            &token.id,
            "--token-secret-file",
            &secret,
            "--ca-file",
            &ca,
            "--use",
        ])
        .expect(0);
        env
    }

    /// A path in the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command with the test environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pvectl"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("PVECTL_CONFIG", self.path("config.yaml"))
            .env("PVECTL_JOURNAL", self.path("journal.db"))
            .env("PVECTL_POLL_MS", "50")
            .env("PVECTL_PROGRESS", "plain")
            .env("USER", "tester");
        c
    }

    /// Run pvectl with no stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        Run::from(out)
    }

    /// Run pvectl with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// The journal's operations, oldest first, as `pvectl history -o json` shows them.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let r = self.run(&["history", "-o", "json", "--limit", "1000000"]);
        assert_eq!(r.code, 0, "history failed: {}", r.stderr);
        json_of(&r.stdout).as_array().cloned().unwrap_or_default()
    }

    /// Seed three VMs (150 running, 151 stopped, 152 running) and a container 200.
    pub async fn seed(&self) {
        self.pve
            .add_vm(
                VmSeed::new(150, "web-01")
                    .running()
                    .config("tags", "env.prod;web")
                    .config("memory", 2048)
                    .config("scsi0", "local-lvm:vm-150-disk-0,size=32G"),
            )
            .await;
        self.pve
            .add_vm(VmSeed::new(151, "web-02").config("tags", "env.dev;web"))
            .await;
        self.pve
            .add_vm(
                VmSeed::new(152, "db-01")
                    .running()
                    .config("tags", "env.prod;db"),
            )
            .await;
        self.pve
            .add_ct(pve_testkit::CtSeed::new(200, "dns-01").running())
            .await;
    }

    /// Seed the template VM 9000 called `name` (one 8G disk on local-lvm) and the Debian LXC
    /// template in `local`: what the create and apply tests clone and unpack.
    pub async fn seed_templates(&self, name: &str) {
        self.pve
            .add_vm(
                VmSeed::new(9000, name)
                    .template()
                    .config("scsi0", "local-lvm:base-9000-disk-0,size=8G"),
            )
            .await;
        self.store_lxc_template().await;
    }

    /// Store the Debian LXC template `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub async fn store_lxc_template(&self) {
        self.pve
            .store_file(
                "local",
                "debian-12-standard_12.7-1_amd64.tar.zst",
                120 << 20,
                "vztmpl",
            )
            .await;
    }

    /// The status of guest `vmid` in the fake (`running`, `stopped`), `None` when absent.
    pub async fn status(&self, vmid: u32) -> Option<String> {
        self.pve
            .guest(vmid)
            .await
            .map(|g| g["status"].as_str().unwrap_or_default().to_string())
    }
}

/// A shell word: `'...'` with inner quotes escaped.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Env {
    /// Run pvectl on a pseudo-terminal (util-linux `script`, in Debian's essential bsdutils) of
    /// 100x30, without `PVECTL_PROGRESS`, so it sees a real TTY on stdout and stderr. Returns the
    /// exit code and the raw terminal transcript (both streams, escape sequences included).
    /// Killed after `limit`, so a hung run fails the test instead of stalling it.
    pub fn run_tty(&self, args: &[&str], limit: std::time::Duration) -> (i32, String) {
        let mut line = String::from("stty cols 100 rows 30; exec ");
        line.push_str(&sh_quote(env!("CARGO_BIN_EXE_pvectl")));
        for a in args {
            line.push(' ');
            line.push_str(&sh_quote(a));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &line, "/dev/null"]);
        let bin = self.command(args);
        cmd.env_clear();
        for (k, v) in bin.get_envs() {
            if let (Some(v), false) = (v, k == "PVECTL_PROGRESS") {
                cmd.env(k, v);
            }
        }
        cmd.env("TERM", "xterm-256color")
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("util-linux `script` runs the pseudo-terminal tests");
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
            buf
        });
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pvectl {args:?} on a terminal did not end within {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = reader.join().unwrap();
        (
            status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out).into_owned(),
        )
    }
}

impl Env {
    /// The requests that change something (anything but GET) fakepve saw since the last
    /// [`FakePve::clear_requests`], as `METHOD path body`.
    pub async fn writes(&self) -> Vec<String> {
        self.pve
            .requests()
            .await
            .into_iter()
            .filter(|q| q.method != "GET")
            .map(|q| format!("{} {} {}", q.method, q.path, q.body))
            .collect()
    }

    /// The body of the last request with this method whose path ends with `suffix`.
    pub async fn last_body(&self, method: &str, suffix: &str) -> String {
        self.pve
            .requests()
            .await
            .into_iter()
            .rev()
            .find(|q| q.method == method && q.path.ends_with(suffix))
            .map(|q| q.body)
            .unwrap_or_else(|| panic!("no {method} …{suffix} request"))
    }

    /// Everything the journal holds: the database and its write-ahead log as text (lossy), then
    /// what `pvectl history -o json` shows.
    pub fn journal_text(&self) -> String {
        let mut text = String::new();
        for file in ["journal.db", "journal.db-wal"] {
            let bytes = std::fs::read(self.path(file)).unwrap_or_default();
            text.push_str(&String::from_utf8_lossy(&bytes));
            text.push('\n');
        }
        let r = self.run(&["history", "-o", "json", "--limit", "1000000"]);
        text + &r.stdout
    }
}

/// Parses a command's JSON output, failing the test with the text when it is not JSON.
pub fn json_of(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A ProxmoxVM manifest: a blank VM with one disk on `local-lvm`, kept running.
#[allow(dead_code)]
pub fn vm_manifest(name: &str, vmid: u32, node: &str) -> String {
    format!(
        "apiVersion: kubepve.io/v1alpha1
kind: ProxmoxVM
metadata:
  name: {name}
  namespace: default
spec:
  connectionRef:
    name: pve-lab
  node: {node}
  vmid: {vmid}
  source:
    blank: {{}}
  cpu:
    cores: 1
  memory: 512Mi
  disks:
    - slot: scsi0
      storage: local-lvm
      size: 8Gi
  runStrategy: Always
"
    )
}
