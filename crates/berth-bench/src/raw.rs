//! The baseline: the same create body sent through the plain Engine API call sequence a
//! minimal client would use, with no bookkeeping.

use anyhow::{bail, Context};
use berth_core::plan::ContainerPlan;
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineError};
use std::time::{Duration, Instant};

/// Pause between two inspects while waiting for `running`.
const RUNNING_POLL: Duration = Duration::from_millis(5);
/// How long a raw launch waits for `running` (the launcher's default start timeout).
const RUNNING_DEADLINE: Duration = Duration::from_secs(30);

/// Create + start + inspect until `running`; returns the container id.
pub async fn launch(rt: &DockerRuntime, plan: &ContainerPlan) -> anyhow::Result<String> {
    let id = rt
        .create(&plan.name, &plan.create, plan.platform.as_deref())
        .await
        .with_context(|| format!("raw create of {}", plan.name))?;
    rt.start(&id)
        .await
        .with_context(|| format!("raw start of {}", plan.name))?;
    let started = Instant::now();
    loop {
        let st = rt
            .inspect(&id)
            .await
            .with_context(|| format!("raw inspect of {}", plan.name))?;
        match st.status.as_str() {
            "running" => return Ok(id),
            "exited" | "dead" => return Ok(id),
            _ if started.elapsed() > RUNNING_DEADLINE => {
                bail!("{} did not reach running within {RUNNING_DEADLINE:?}", plan.name)
            }
            _ => tokio::time::sleep(RUNNING_POLL).await,
        }
    }
}

/// Stop with no grace period, then force-remove: the raw counterpart of terminate.
pub async fn terminate(rt: &DockerRuntime, id: &str) -> anyhow::Result<()> {
    match rt.stop(id, 0).await {
        Ok(()) | Err(EngineError::NotModified) | Err(EngineError::NotFound(_)) => {}
        Err(e) => return Err(e).context("raw stop"),
    }
    remove(rt, id).await
}

/// Force-remove; "already gone" is fine.
pub async fn remove(rt: &DockerRuntime, id: &str) -> anyhow::Result<()> {
    match rt.remove(id, true).await {
        Ok(()) | Err(EngineError::NotFound(_)) | Err(EngineError::Conflict(_)) => Ok(()),
        Err(e) => Err(e).context("raw remove"),
    }
}

/// Whether the engine no longer knows the container.
pub async fn is_gone(rt: &DockerRuntime, id: &str) -> bool {
    matches!(rt.inspect(id).await, Err(EngineError::NotFound(_)))
}
