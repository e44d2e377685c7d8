//! `berth recover`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RecoverCmd {}

pub fn run(_cmd: &RecoverCmd) -> anyhow::Result<i32> {
    anyhow::bail!("berth recover is not available in this build")
}
