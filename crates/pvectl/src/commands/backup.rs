//! `pvectl backup list` and `pvectl backup show`: the configuration backups pvectl saved
//! (see the `backups` service for what they hold and where they live).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::backups::{self, Backup, dir, read};
use crate::exit::usage;
use crate::output::{OutputFormat, Table, print_value};

/// `pvectl backup`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List configuration backups, newest last.
    ///
    /// Examples:
    ///   pvectl backup list
    ///   pvectl backup list --guest 150 -o name
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Print one backup (a file name from `backup list`, or a path).
    ///
    /// Examples:
    ///   pvectl backup show vm-150-20250131T120000Z-delete.json
    ///   pvectl vm create -f "$(pvectl backup list --guest 150 -o name | tail -1)"
    Show(ShowArgs),
}

/// `backup list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only backups of this guest (VMID, `vm/150`, or name).
    #[arg(long)]
    pub guest: Option<String>,
    /// Output format (`name` prints the paths, for `vm create -f`).
    #[arg(short, long, default_value = "table")]
    pub output: OutputFormat,
    /// Do not print the header line.
    #[arg(long)]
    pub no_headers: bool,
}

/// `backup show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A file name in the backup folder, or a path.
    pub file: String,
    /// Output format (yaml or json).
    #[arg(short, long, default_value = "yaml")]
    pub output: OutputFormat,
}

/// Run `pvectl backup`.
pub fn run(cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::List(a) => list(&a),
        BackupCommand::Show(a) => show(&a),
    }
}

fn list(a: &ListArgs) -> anyhow::Result<()> {
    let dir = dir();
    let mut found: Vec<(PathBuf, Backup)> = backups::all()?;
    if let Some(g) = &a.guest {
        found.retain(|(_, b)| {
            b.guest == *g || b.vmid.to_string() == *g || (!b.name.is_empty() && b.name == *g)
        });
    }
    found.sort_by(|x, y| (&x.1.time, &x.0).cmp(&(&y.1.time, &y.0)));
    match a.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let items: Vec<Value> = found
                .iter()
                .map(|(p, b)| {
                    json!({"file": p.display().to_string(), "time": b.time, "guest": b.guest,
                           "name": b.name, "reason": b.reason, "context": b.context,
                           "snapshots": b.snapshots})
                })
                .collect();
            print_value(&Value::Array(items), a.output)?;
        }
        OutputFormat::Name => {
            for (p, _) in &found {
                outln!("{}", p.display());
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            if found.is_empty() && !a.no_headers {
                eprintln!("No configuration backups in {}.", dir.display());
                return Ok(());
            }
            let mut t = Table::new(&["FILE", "TIME", "GUEST", "NAME", "REASON", "CONTEXT"]);
            for (p, b) in &found {
                let file = p.file_name().map(|f| f.to_string_lossy().into_owned());
                t.row(vec![
                    file.unwrap_or_default(),
                    b.time.clone(),
                    b.guest.clone(),
                    b.name.clone(),
                    b.reason.clone(),
                    b.context.clone(),
                ]);
            }
            t.print(a.no_headers);
        }
    }
    Ok(())
}

fn show(a: &ShowArgs) -> anyhow::Result<()> {
    let given = PathBuf::from(&a.file);
    let path = if given.exists() {
        given
    } else {
        dir().join(&a.file)
    };
    if !path.exists() {
        return Err(usage(format!(
            "no backup {:?} (neither a path nor a file in {}); see `pvectl backup list`",
            a.file,
            dir().display()
        )));
    }
    let backup = read(&path)?;
    print_value(&serde_json::to_value(&backup)?, a.output)
}
