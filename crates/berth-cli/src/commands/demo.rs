//! `berth demo`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct DemoCmd {}

pub fn run(_cmd: &DemoCmd) -> anyhow::Result<i32> {
    anyhow::bail!("berth demo is not available in this build")
}
