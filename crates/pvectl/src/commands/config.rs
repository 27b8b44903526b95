//! The `pvectl config` subcommands: view the file (secrets redacted), list contexts, switch,
//! create or change, and delete them.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::config::{ConfigFile, ContextEntry, read_secret};
use crate::exit::usage;
use crate::output::{OutputFormat, Table, print_value};

/// `pvectl config`: manage connection contexts.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the config file with secrets redacted.
    ///
    /// Example: pvectl config view -o json
    View {
        /// Output format: yaml or json (the file), table or wide (the contexts), name.
        #[arg(short, long, default_value = "yaml")]
        output: OutputFormat,
    },
    /// List the contexts.
    ///
    /// Example: pvectl config get-contexts -o json
    GetContexts {
        /// Output format.
        #[arg(short, long, default_value = "table")]
        output: OutputFormat,
        /// Do not print the header line.
        #[arg(long)]
        no_headers: bool,
    },
    /// Print the name of the current context.
    CurrentContext,
    /// Make a context the current one.
    ///
    /// Example: pvectl config use-context lab
    UseContext {
        /// The context.
        name: String,
    },
    /// Create a context or change some of its fields.
    ///
    /// Examples:
    ///   pvectl config set-context lab --server https://pve1:8006 \
    ///       --token-id 'ops@pve!cli' --token-secret-file ~/.pve-token --fingerprint AA:BB:... --use
    ///   pvectl config set-context lab --node pve2
    SetContext(Box<SetContext>),
    /// Delete a context.
    DeleteContext {
        /// The context.
        name: String,
    },
}

/// Fields of `config set-context`.
#[derive(Debug, Args)]
pub struct SetContext {
    /// The context's name.
    pub name: String,
    /// The API endpoint, `https://HOST:8006`.
    #[arg(long, alias = "endpoint")]
    pub server: Option<String>,
    /// API token id, `user@realm!tokenname`.
    #[arg(long)]
    pub token_id: Option<String>,
    /// API token secret, stored in the config file (prefer --token-secret-file: flags show up
    /// in the process list).
    #[arg(long)]
    pub token_secret: Option<String>,
    /// File holding the API token secret: the config keeps a reference and reads it at each use.
    #[arg(long)]
    pub token_secret_file: Option<PathBuf>,
    /// User for password logins, `user@realm`.
    #[arg(long)]
    pub user: Option<String>,
    /// File holding the password: the config keeps a reference and reads it at each use.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// PEM CA bundle that signed the server certificate.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of the server certificate (`pvenode cert info`).
    #[arg(long)]
    pub fingerprint: Option<String>,
    /// Accept any server certificate (labs only).
    #[arg(long)]
    pub insecure: bool,
    /// Default node for `create`.
    #[arg(long)]
    pub node: Option<String>,
    /// Also make it the current context.
    #[arg(long = "use")]
    pub make_current: bool,
}

/// Run a `config` subcommand.
pub fn run(path: &Path, cmd: ConfigCommand) -> anyhow::Result<()> {
    let mut file = ConfigFile::load(path)?;
    match cmd {
        ConfigCommand::View { output } => {
            let shown = ConfigFile {
                current_context: file.current_context.clone(),
                contexts: file
                    .contexts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.redacted()))
                    .collect(),
            };
            match output {
                OutputFormat::Json | OutputFormat::Yaml => {
                    print_value(&serde_json::to_value(&shown)?, output)?;
                }
                other => contexts(&file, other, false)?,
            }
        }
        ConfigCommand::GetContexts { output, no_headers } => contexts(&file, output, no_headers)?,
        ConfigCommand::CurrentContext => match &file.current_context {
            Some(c) => outln!("{c}"),
            None => {
                return Err(usage(
                    "no current context; use `pvectl config use-context NAME`",
                ));
            }
        },
        ConfigCommand::UseContext { name } => {
            if !file.contexts.contains_key(&name) {
                return Err(usage(format!(
                    "no context named {name:?}; see `pvectl config get-contexts`"
                )));
            }
            file.current_context = Some(name.clone());
            file.save(path)?;
            outln!("Switched to context {name:?}.");
        }
        ConfigCommand::SetContext(args) => {
            let name = args.name.clone();
            let existed = file.contexts.contains_key(&name);
            let entry = file.contexts.entry(name.clone()).or_default();
            set_fields(entry, args.make_current, &args)?;
            if entry.endpoint.is_empty() {
                return Err(usage("a new context needs --server https://HOST:8006"));
            }
            if args.make_current || file.current_context.is_none() {
                file.current_context = Some(name.clone());
            }
            file.save(path)?;
            let verb = if existed { "modified" } else { "created" };
            outln!("Context {name:?} {verb} in {}.", path.display());
        }
        ConfigCommand::DeleteContext { name } => {
            if file.contexts.remove(&name).is_none() {
                return Err(usage(format!("no context named {name:?}")));
            }
            if file.current_context.as_deref() == Some(name.as_str()) {
                file.current_context = None;
            }
            file.save(path)?;
            outln!("Deleted context {name:?}.");
        }
    }
    Ok(())
}

/// The contexts in `format`: a table (`wide` adds the secret files), JSON/YAML (secrets
/// redacted), or their names.
fn contexts(file: &ConfigFile, format: OutputFormat, no_headers: bool) -> anyhow::Result<()> {
    let current = |name: &str| file.current_context.as_deref() == Some(name);
    match format {
        OutputFormat::Json | OutputFormat::Yaml => {
            let list: Vec<Value> = file
                .contexts
                .iter()
                .map(|(name, c)| {
                    let mut doc = serde_json::to_value(c.redacted())?;
                    doc["name"] = json!(name);
                    doc["current"] = json!(current(name));
                    Ok(doc)
                })
                .collect::<anyhow::Result<_>>()?;
            print_value(&Value::Array(list), format)?;
        }
        OutputFormat::Name => {
            for name in file.contexts.keys() {
                outln!("{name}");
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = format == OutputFormat::Wide;
            let mut headers = vec!["CURRENT", "NAME", "ENDPOINT", "AUTH", "TLS", "NODE"];
            if wide {
                headers.push("SECRET");
            }
            let mut t = Table::new(&headers);
            for (name, c) in &file.contexts {
                let mut row = vec![
                    if current(name) { "*" } else { "" }.into(),
                    name.clone(),
                    c.endpoint.clone(),
                    c.auth_summary(),
                    c.tls_summary().into(),
                    c.node.clone().unwrap_or_default(),
                ];
                if wide {
                    row.push(c.secret_summary());
                }
                t.row(row);
            }
            t.print(no_headers);
        }
    }
    Ok(())
}

fn set_fields(entry: &mut ContextEntry, _current: bool, a: &SetContext) -> anyhow::Result<()> {
    if let Some(s) = &a.server {
        url_check(s)?;
        entry.endpoint = s.clone();
    }
    if let Some(id) = &a.token_id {
        if !id.contains('!') || !id.contains('@') {
            return Err(usage(format!(
                "token id {id:?} should look like user@realm!tokenname"
            )));
        }
        entry.token_id = Some(id.clone());
        entry.user = None;
        entry.password = None;
        entry.password_file = None;
    }
    if let Some(s) = &a.token_secret {
        entry.token_secret = Some(s.clone());
        entry.token_secret_file = None;
    }
    if let Some(f) = &a.token_secret_file {
        entry.token_secret_file = Some(secret_file(f)?);
        entry.token_secret = None;
    }
    if let Some(u) = &a.user {
        entry.user = Some(u.clone());
        if a.token_id.is_none() {
            entry.token_id = None;
            entry.token_secret = None;
            entry.token_secret_file = None;
        }
    }
    if let Some(f) = &a.password_file {
        entry.password_file = Some(secret_file(f)?);
        entry.password = None;
    }
    if let Some(f) = &a.ca_file {
        let pem = std::fs::read_to_string(f)
            .map_err(|e| usage(format!("cannot read CA file {}: {e}", f.display())))?;
        if !pem.contains("BEGIN CERTIFICATE") {
            return Err(usage(format!("{} holds no PEM certificate", f.display())));
        }
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        entry.ca_file = Some(abs.display().to_string());
        entry.fingerprint = None;
        entry.insecure = false;
    }
    if let Some(fp) = &a.fingerprint {
        pve_client::parse_fingerprint(fp)
            .map_err(|e| usage(format!("{e}: expected 32 hex pairs like AA:BB:...")))?;
        entry.fingerprint = Some(fp.to_ascii_uppercase());
        entry.ca_file = None;
        entry.insecure = false;
    }
    if a.insecure {
        entry.insecure = true;
        entry.fingerprint = None;
        entry.ca_file = None;
    }
    if let Some(n) = &a.node {
        entry.node = Some(n.clone());
    }
    Ok(())
}

/// A secret file as the config keeps it: checked readable now, stored as an absolute path.
fn secret_file(path: &Path) -> anyhow::Result<String> {
    read_secret(path)?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(abs.display().to_string())
}

/// The same check (and the same words: what to write instead) as for `PVE_URL`.
fn url_check(s: &str) -> anyhow::Result<()> {
    pve_client::check_server_url(s).map_err(|e| match e {
        pve_client::Error::Config(message) => usage(message),
        other => usage(other.to_string()),
    })
}
