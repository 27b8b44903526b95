//! apply (stub)
use crate::App;
use clap::Args;
/// a
#[derive(Debug, Args)]
pub struct ApplyArgs {}
/// d
#[derive(Debug, Args)]
pub struct DiffArgs {}
/// a
pub async fn apply(_app: &App, _a: &ApplyArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
/// d
pub async fn diff(_app: &App, _a: &DiffArgs) -> anyhow::Result<i32> {
    anyhow::bail!("todo")
}
