//! `berth doctor`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct DoctorCmd {}

pub fn run(_cmd: &DoctorCmd) -> anyhow::Result<i32> {
    anyhow::bail!("berth doctor is not available in this build")
}
