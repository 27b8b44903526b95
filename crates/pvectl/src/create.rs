//! `create` and `update` (stub).
use crate::App;
use clap::Args;
/// `create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {}
/// `update` flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {}
/// Run `create`.
pub async fn create(_app: &App, _kind: &str, _a: &CreateArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
/// Run `update`.
pub async fn update(_app: &App, _kind: &str, _a: &UpdateArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
