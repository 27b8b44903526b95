//! `apply` and `diff` flags, over the `converge` service (which `create -f` uses too).

use std::path::PathBuf;

use clap::Args;

use crate::App;
use crate::converge::{self, ApplyOptions, Sources};
use crate::validate::ValidateMode;

/// `apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files or folders of manifests (`-` for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Files with Secret documents for cloud-init and root passwords.
    #[arg(long)]
    pub secret_file: Vec<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over a guest at the manifest's VMID that lacks the owner tag (adds the tags).
    #[arg(long)]
    pub adopt: bool,
    /// Unknown fields: `strict` refuses them, `warn` prints them and goes on, `ignore` (or
    /// `false`) drops them.
    #[arg(long, default_value = "strict", value_name = "MODE")]
    pub validate: ValidateMode,
}

/// `diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Files or folders of manifests (`-` for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Files with Secret documents.
    #[arg(long)]
    pub secret_file: Vec<PathBuf>,
    /// Unknown fields: `strict` refuses them, `warn` prints them and goes on, `ignore` (or
    /// `false`) drops them.
    #[arg(long, default_value = "strict", value_name = "MODE")]
    pub validate: ValidateMode,
}

impl ApplyArgs {
    fn options(&self) -> ApplyOptions {
        ApplyOptions {
            sources: Sources {
                files: self.files.clone(),
                secret_files: self.secret_file.clone(),
                validate: self.validate,
            },
            dry_run: self.dry_run,
            adopt: self.adopt,
        }
    }
}

/// Run `apply`.
pub async fn apply(app: &App, args: &ApplyArgs) -> anyhow::Result<()> {
    converge::apply(app, &args.options()).await
}

/// Run `diff`; 0 without differences, 1 with.
pub async fn diff(app: &App, args: &DiffArgs) -> anyhow::Result<i32> {
    let sources = Sources {
        files: args.files.clone(),
        secret_files: args.secret_file.clone(),
        validate: args.validate,
    };
    converge::diff(app, &sources).await
}
