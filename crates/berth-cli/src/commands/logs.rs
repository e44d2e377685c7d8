//! `berth logs`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct LogsCmd {}

pub fn run(_cmd: &LogsCmd) -> anyhow::Result<i32> {
    anyhow::bail!("berth logs is not available in this build")
}
