//! Many jobs launched at once. berth: N concurrent `launch` calls, then N concurrent
//! `wait_settled`s (outcome recorded and container removed). Raw: N concurrent create +
//! start + inspect-until-running, then N concurrent `/wait`s (its containers are removed
//! afterwards, off the clock).

use crate::context::{Arm, Ctx};
use crate::raw;
use crate::stats::Series;
use berth_core::JobReturnCode;
use berth_engine::ContainerRuntime;
use futures::future::join_all;
use futures::StreamExt as _;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct Round {
    pub arm: Arm,
    pub jobs: usize,
    /// Start -> every launch returned with its container running, s.
    pub all_running_s: f64,
    /// Start -> every job's outcome known, s.
    pub all_outcomes_s: f64,
    /// Per-job launch latency within the round, ms.
    pub launch_ms: Series,
    /// Jobs whose outcome was exit 0 / SUCCESS (and, for berth, whose container is gone).
    pub correct: usize,
    /// Jobs that ended before their launch saw them running (the round took longer than a job).
    pub ended_before_running: usize,
    /// Raw only: removing the round's containers afterwards, s.
    pub cleanup_s: Option<f64>,
    pub failures: Vec<String>,
}

/// `rounds` rounds per arm (raw and berth with SQLite); each round runs both arms in a
/// random order.
pub async fn run(ctx: &mut Ctx, jobs: usize, rounds: usize, sleep_secs: f64) -> anyhow::Result<Vec<Round>> {
    let order = ctx.blocks(&[Arm::Raw, Arm::BerthSqlite], rounds);
    let mut out = Vec::new();
    for arm in order {
        eprintln!("  concurrency: {jobs} jobs, {}", arm.label());
        let round = round(ctx, arm, jobs, sleep_secs).await?;
        eprintln!(
            "    all running {:.2} s, all outcomes {:.2} s, {}/{} correct",
            round.all_running_s, round.all_outcomes_s, round.correct, round.jobs
        );
        out.push(round);
        // Let the engine finish tearing the round down before the next one starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(out)
}

async fn round(ctx: &Ctx, arm: Arm, jobs: usize, sleep_secs: f64) -> anyhow::Result<Round> {
    let script = format!("sleep {sleep_secs};exit 0");
    let plans = (0..jobs)
        .map(|_| ctx.planner.plan(&script).map(|(p, _)| p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut failures = Vec::new();
    let start = Instant::now();
    let mut launch_ms = Vec::new();
    let mut ended_before_running = 0;
    let (all_running, all_outcomes, correct, cleanup) = match ctx.launcher(arm) {
        None => {
            let rt = ctx.raw.clone();
            let launched = join_all(plans.into_iter().map(|plan| {
                let rt = rt.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = raw::launch(&rt, &plan).await;
                    (r, t.elapsed())
                })
            }))
            .await;
            let all_running = start.elapsed();
            let mut ids = Vec::new();
            for joined in launched {
                match joined {
                    Ok((Ok(id), took)) => {
                        launch_ms.push(took.as_secs_f64() * 1e3);
                        ids.push(id);
                    }
                    Ok((Err(e), _)) => failures.push(format!("{e:#}")),
                    Err(e) => failures.push(format!("task: {e}")),
                }
            }
            let waited = join_all(ids.iter().cloned().map(|id| {
                let rt = rt.clone();
                tokio::spawn(async move { rt.wait_exit(&id).await })
            }))
            .await;
            let all_outcomes = start.elapsed();
            let mut correct = 0;
            for w in waited {
                match w {
                    Ok(Ok(0)) => correct += 1,
                    Ok(Ok(code)) => failures.push(format!("raw job exited {code}")),
                    Ok(Err(e)) => failures.push(format!("raw wait: {e}")),
                    Err(e) => failures.push(format!("task: {e}")),
                }
            }
            let t = Instant::now();
            futures::stream::iter(ids)
                .for_each_concurrent(8, |id| {
                    let rt = rt.clone();
                    async move {
                        let _ = raw::remove(&rt, &id).await;
                    }
                })
                .await;
            (
                all_running,
                all_outcomes,
                correct,
                Some(t.elapsed().as_secs_f64()),
            )
        }
        Some(launcher) => {
            let launched = join_all(plans.into_iter().map(|plan| {
                let launcher = launcher.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = launcher.launch(plan).await;
                    // Whether the job had ended already when its launch returned.
                    let ended = r.as_ref().is_ok_and(|h| h.terminal_state().is_some());
                    (r.map(|h| (h, ended)), t.elapsed())
                })
            }))
            .await;
            let all_running = start.elapsed();
            let mut handles = Vec::new();
            for joined in launched {
                match joined {
                    Ok((Ok((h, ended)), took)) => {
                        launch_ms.push(took.as_secs_f64() * 1e3);
                        if ended {
                            ended_before_running += 1;
                        }
                        handles.push(h);
                    }
                    Ok((Err(e), _)) => failures.push(e.to_string()),
                    Err(e) => failures.push(format!("task: {e}")),
                }
            }
            let waited = join_all(
                handles
                    .iter()
                    .cloned()
                    .map(|h| tokio::spawn(async move { h.wait_settled().await })),
            )
            .await;
            let all_outcomes = start.elapsed();
            let mut correct = 0;
            for (h, w) in handles.iter().zip(waited) {
                let exit_code = h.outcome().and_then(|o| o.exit_code);
                match w {
                    Ok(JobReturnCode::Success) if exit_code == Some(0) => {
                        if raw::is_gone(&ctx.raw, h.container_id()).await {
                            correct += 1;
                        } else {
                            failures.push(format!("berth left the container of {}", h.container_name()));
                        }
                    }
                    Ok(code) => failures.push(format!(
                        "berth job {} ended {code:?} / {exit_code:?}",
                        h.container_name()
                    )),
                    Err(e) => failures.push(format!("task: {e}")),
                }
            }
            (all_running, all_outcomes, correct, None)
        }
    };
    failures.truncate(20);
    Ok(Round {
        arm,
        jobs,
        all_running_s: all_running.as_secs_f64(),
        all_outcomes_s: all_outcomes.as_secs_f64(),
        launch_ms: Series::new(launch_ms),
        correct,
        ended_before_running,
        cleanup_s: cleanup,
        failures,
    })
}
