//! export (stub)
use crate::App;
use clap::Args;
/// e
#[derive(Debug, Args)]
pub struct ExportArgs {}
/// e
pub async fn export(_app: &App, _a: &ExportArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
