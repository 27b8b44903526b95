//! Connection contexts, like kubeconfig: a YAML file of named contexts (endpoint, credentials,
//! TLS trust, default node), the current one, environment overrides, and the `pvectl config`
//! subcommands that edit it ([`command`]). `--token-secret-file` and `--password-file` are kept
//! as references to the files, read at each use; an inline secret (`--token-secret`, older
//! configs) is stored in the file (mode 0600, folder 0700). Secrets are never printed:
//! `config view` and `get-contexts` show `(redacted)`.
//!
//! The file is `$PVECTL_CONFIG`, else `$XDG_CONFIG_HOME/pvectl/config.yaml`, else
//! `~/.config/pvectl/config.yaml`. The context is `--context`, else `$PVECTL_CONTEXT`, else the
//! file's `current-context`. Then `PVE_URL`, `PVE_TOKEN` (`user@realm!id=secret`),
//! `PVE_TOKEN_ID`, `PVE_TOKEN_SECRET`, `PVE_USER`, `PVE_PASSWORD`, `PVE_CA_FILE`,
//! `PVE_FINGERPRINT`, `PVE_INSECURE` and `PVE_NODE` override its fields; `PVE_URL` alone (with
//! credentials) works without any file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use pve_client::{Auth, Client, REDACTED, Tls};
use serde::{Deserialize, Serialize};

use crate::exit::usage;

/// Read a secret file (trimmed); a missing or unreadable one is a usage error naming it.
pub fn read_secret(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        ))
    })?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(usage(format!(
            "the secret file {} is empty",
            path.display()
        )));
    }
    Ok(text)
}

/// The config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    /// The context used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Contexts by name.
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextEntry>,
}

/// One named connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct ContextEntry {
    /// `https://pve.example:8006`.
    #[serde(default)]
    pub endpoint: String,
    /// API token id, `user@realm!tokenname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// API token secret, inline (older configs, `--token-secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// File holding the API token secret, read at each use (`--token-secret-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_file: Option<String>,
    /// User for password logins, `user@realm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password for password logins, inline (older configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// File holding the password, read at each use (`--password-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// PEM file with the CA that signed the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// SHA-256 fingerprint of the server certificate (`AA:BB:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Accept any certificate (labs only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Default node for `create` when a command does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl ContextEntry {
    /// A copy with every secret replaced by [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let hide = |v: &Option<String>| v.as_ref().map(|_| REDACTED.to_string());
        Self {
            token_secret: hide(&self.token_secret),
            password: hide(&self.password),
            ..self.clone()
        }
    }

    /// `token user@pam!ci`, `password root@pam` or `none`.
    pub fn auth_summary(&self) -> String {
        match (&self.token_id, &self.user) {
            (Some(id), _) => format!("token {id}"),
            (None, Some(user)) => format!("password {user}"),
            _ => "none".into(),
        }
    }

    /// Where the secret lives: `file PATH`, `inline` or `none` (never the secret).
    pub fn secret_summary(&self) -> String {
        match (&self.token_secret_file, &self.password_file) {
            (Some(f), _) | (None, Some(f)) => format!("file {f}"),
            _ if self.token_secret.is_some() || self.password.is_some() => "inline".into(),
            _ => "none".into(),
        }
    }

    /// `fingerprint`, `ca-file`, `insecure` or `system`.
    pub fn tls_summary(&self) -> &'static str {
        if self.fingerprint.is_some() {
            "fingerprint"
        } else if self.ca_file.is_some() {
            "ca-file"
        } else if self.insecure {
            "insecure"
        } else {
            "system"
        }
    }

    /// The client's credentials; a secret kept as a file reference is read now.
    pub fn auth(&self) -> anyhow::Result<Auth> {
        let secret = |inline: &Option<String>, file: &Option<String>| -> anyhow::Result<_> {
            match (inline, file) {
                (Some(s), _) => Ok(Some(s.clone())),
                (None, Some(f)) => read_secret(Path::new(f)).map(Some),
                (None, None) => Ok(None),
            }
        };
        let token_secret = secret(&self.token_secret, &self.token_secret_file)?;
        let password = secret(&self.password, &self.password_file)?;
        match (&self.token_id, token_secret, &self.user, password) {
            (Some(id), Some(secret), _, _) => Ok(Auth::token(id.clone(), secret)),
            (Some(_), None, _, _) => Err(usage(
                "the context has a token id but no token secret: set it with \
                 `pvectl config set-context NAME --token-secret-file FILE` or PVE_TOKEN_SECRET",
            )),
            (None, _, Some(user), Some(password)) => Ok(Auth::password(user.clone(), password)),
            (None, _, Some(_), None) => Err(usage(
                "the context has a user but no password: set one with `--password-file` or \
                 PVE_PASSWORD",
            )),
            _ => Err(usage(
                "the context has no credentials: give a token (`--token-id` and \
                 `--token-secret-file`) or a user and password",
            )),
        }
    }

    /// How the server certificate is trusted.
    pub fn tls(&self) -> anyhow::Result<Tls> {
        if let Some(fp) = &self.fingerprint {
            pve_client::parse_fingerprint(fp)
                .map_err(|e| usage(format!("{e}: expected 32 hex pairs like AA:BB:...")))?;
            return Ok(Tls::Fingerprint(fp.clone()));
        }
        if let Some(file) = &self.ca_file {
            let pem = std::fs::read_to_string(file)
                .map_err(|e| usage(format!("cannot read CA file {file}: {e}")))?;
            return Ok(Tls::CaBundle(pem));
        }
        if self.insecure {
            return Ok(Tls::Insecure);
        }
        Ok(Tls::SystemRoots)
    }
}

/// Where the config file is.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("PVECTL_CONFIG").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    xdg_dir(BaseDir::Config).join("pvectl/config.yaml")
}

/// An XDG base directory: `$XDG_CONFIG_HOME` or `$XDG_STATE_HOME` when set and absolute, else
/// `~/.config` or `~/.local/state` (the current folder when there is no home).
pub fn xdg_dir(which: BaseDir) -> PathBuf {
    use etcetera::BaseStrategy;
    let Ok(xdg) = etcetera::base_strategy::Xdg::new() else {
        return PathBuf::from(".").join(which.fallback());
    };
    match which {
        BaseDir::Config => xdg.config_dir(),
        BaseDir::State => xdg
            .state_dir()
            .unwrap_or_else(|| xdg.home_dir().join(which.fallback())),
    }
}

/// The XDG base directories pvectl uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseDir {
    /// The config file.
    Config,
    /// The journal and the backups.
    State,
}

impl BaseDir {
    fn fallback(self) -> &'static str {
        match self {
            BaseDir::Config => ".config",
            BaseDir::State => ".local/state",
        }
    }
}

impl ConfigFile {
    /// Read the file; a missing file is an empty config.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => serde_saphyr::from_str(&text)
                .map_err(|e| usage(format!("config file {} is not valid: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(usage(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Write the file (mode 0600, replaced atomically).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_saphyr::to_string(self).context("cannot serialise the config")?;
        let tmp = path.with_extension("yaml.tmp");
        {
            use std::io::Write;
            let mut opts = crate::private::file_options();
            opts.write(true).create(true).truncate(true);
            let mut f = opts
                .open(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// The connection a command uses: a client plus names for messages and the journal.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The Proxmox client.
    pub client: Client,
    /// The context's name (`env` when it came from the environment only).
    pub context: String,
    /// The user or token id, safe to print.
    pub principal: String,
    /// The default node for creating guests.
    pub node: Option<String>,
    /// `GET /nodes`, read at most once per invocation (`preflight::nodes`).
    pub nodes: std::sync::Arc<tokio::sync::OnceCell<Vec<pve_client::types::NodeInfo>>>,
    /// The storages enabled on each node, as `(node, storage)`, from the invocation's first
    /// read of every resource (`select::guests_and_nodes`); `preflight::storages` needs no
    /// read of its own when they are known.
    pub storages:
        std::sync::Arc<std::sync::OnceLock<Vec<(String, pve_client::types::StorageInfo)>>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The context to use, with environment overrides applied.
pub fn resolve(path: &Path, wanted: Option<&str>) -> anyhow::Result<(String, ContextEntry)> {
    let file = ConfigFile::load(path)?;
    let name = wanted
        .map(str::to_string)
        .or_else(|| env("PVECTL_CONTEXT"))
        .or_else(|| file.current_context.clone());
    let (name, mut entry) = match name {
        Some(n) => match file.contexts.get(&n) {
            Some(e) => (n, e.clone()),
            None if env("PVE_URL").is_some() && wanted.is_none() => (n, ContextEntry::default()),
            None => {
                return Err(usage(format!(
                    "no context named {n:?} in {}; see `pvectl config get-contexts`",
                    path.display()
                )));
            }
        },
        None if env("PVE_URL").is_some() => ("env".to_string(), ContextEntry::default()),
        None => {
            return Err(usage(format!(
                "no context configured: create one with `pvectl config set-context NAME \
                 --server https://HOST:8006 --token-id USER@REALM!NAME --token-secret-file FILE \
                 --fingerprint AA:BB:... --use`, or set PVE_URL and PVE_TOKEN (config file: {})",
                path.display()
            )));
        }
    };
    apply_env(&mut entry);
    if entry.endpoint.is_empty() {
        return Err(usage(format!(
            "context {name:?} has no endpoint: set it with `pvectl config set-context {name} \
             --server https://HOST:8006`"
        )));
    }
    Ok((name, entry))
}

fn apply_env(entry: &mut ContextEntry) {
    if let Some(url) = env("PVE_URL") {
        entry.endpoint = url;
    }
    if let Some(token) = env("PVE_TOKEN") {
        let token = token
            .strip_prefix("PVEAPIToken=")
            .unwrap_or(&token)
            .to_string();
        if let Some((id, secret)) = token.rsplit_once('=') {
            entry.token_id = Some(id.to_string());
            entry.token_secret = Some(secret.to_string());
        }
    }
    if let Some(id) = env("PVE_TOKEN_ID") {
        entry.token_id = Some(id);
    }
    if let Some(s) = env("PVE_TOKEN_SECRET") {
        entry.token_secret = Some(s);
    }
    if let Some(u) = env("PVE_USER") {
        entry.user = Some(u);
        if env("PVE_TOKEN").is_none() && env("PVE_TOKEN_ID").is_none() {
            entry.token_id = None;
        }
    }
    if let Some(p) = env("PVE_PASSWORD") {
        entry.password = Some(p);
    }
    if let Some(f) = env("PVE_CA_FILE") {
        entry.ca_file = Some(f);
        entry.fingerprint = None;
    }
    if let Some(f) = env("PVE_FINGERPRINT") {
        entry.fingerprint = Some(f);
    }
    if let Some(i) = env("PVE_INSECURE") {
        entry.insecure = matches!(i.as_str(), "1" | "true" | "yes");
    }
    if let Some(n) = env("PVE_NODE") {
        entry.node = Some(n);
    }
}

/// Build the client for the chosen context.
pub fn connect(path: &Path, wanted: Option<&str>, timeout: Duration) -> anyhow::Result<Connection> {
    let (name, entry) = resolve(path, wanted)?;
    crate::exit::connected_with(&name);
    let auth = entry.auth()?;
    let principal = auth.principal().to_string();
    let client = Client::builder(entry.endpoint.clone(), auth)
        .tls(entry.tls()?)
        .timeout(timeout)
        .user_agent(concat!("pvectl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| usage(format!("context {name:?}: {e}")))?;
    Ok(Connection {
        client,
        context: name,
        principal,
        node: entry.node,
        nodes: Default::default(),
        storages: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_secrets() {
        let c = ContextEntry {
            endpoint: "https://x:8006".into(),
            token_id: Some("a@pve!b".into()),
            token_secret: Some("s3cr3t".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let text = format!("{:?}", c.redacted());
        assert!(!text.contains("s3cr3t") && !text.contains("\"pw\""));
        assert_eq!(c.auth_summary(), "token a@pve!b");
    }
}
