//! `berth audit`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct AuditCmd {}

pub fn run(_cmd: &AuditCmd) -> anyhow::Result<i32> {
    anyhow::bail!("berth audit is not available in this build")
}
