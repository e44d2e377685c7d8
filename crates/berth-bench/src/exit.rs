//! Exit detection: from the container's `State.FinishedAt` to the moment the caller learns
//! the job ended. berth: `JobHandle::wait` returns (once the launcher recorded the outcome,
//! from the die event; its removal follows and is checked off the clock). Raw: the engine's
//! `POST /containers/{id}/wait` answers. A separate event subscription of the benchmark
//! notes when the engine's die event reaches a client, to split berth's time into the
//! engine's part and its own.

use crate::context::{Arm, Ctx};
use crate::procinfo::cpu_time;
use crate::raw;
use crate::rfc3339::{now_unix_nanos, parse_unix_nanos};
use crate::stats::Series;
use berth_core::JobReturnCode;
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerEventKind, ContainerRuntime};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The job's exit code: not 0 or 9, so a wrong code cannot pass for a right one.
const EXIT_CODE: i64 = 3;

#[derive(Debug, Default, Serialize)]
pub struct ArmExit {
    /// FinishedAt -> the caller knows the job ended (berth: `wait` returns; raw: `/wait` answers), ms.
    pub detect_ms: Series,
    /// FinishedAt -> the die event reached the benchmark's own event subscriber, ms.
    pub die_event_ms: Series,
    /// FinishedAt -> berth's outcome `recorded_at` (millisecond clock), ms. berth only.
    pub recorded_ms: Series,
    /// Process CPU for the whole job (launch, exit handling, removal), ms.
    pub lifecycle_cpu_ms: Series,
    pub failures: Vec<String>,
}

#[derive(Default)]
struct Acc {
    detect: Vec<f64>,
    die: Vec<f64>,
    recorded: Vec<f64>,
    cpu: Vec<f64>,
    failures: Vec<String>,
}

type DieTimes = Arc<Mutex<HashMap<String, i128>>>;

/// Samples per arm of a job that sleeps `sleep_secs` and exits with [`EXIT_CODE`].
pub async fn run(
    ctx: &mut Ctx,
    listener: &DockerRuntime,
    samples: usize,
    sleep_secs: f64,
) -> anyhow::Result<BTreeMap<Arm, ArmExit>> {
    let die_times: DieTimes = Arc::default();
    let mut events = listener.events(&ctx.planner.names().filters());
    let sink = die_times.clone();
    let subscriber = tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if matches!(event.kind, ContainerEventKind::Die { .. }) {
                let now = now_unix_nanos();
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(event.id, now);
            }
        }
    });
    // Let the subscription reach the engine before the first job.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let script = format!("sleep {sleep_secs};exit {EXIT_CODE}");
    let arms = ctx.arms();
    let order = ctx.schedule(&arms, samples);
    let mut acc: BTreeMap<Arm, Acc> = arms.iter().map(|a| (*a, Acc::default())).collect();
    for (i, arm) in order.iter().enumerate() {
        let slot = acc.entry(*arm).or_default();
        if let Err(e) = one(ctx, *arm, &script, &die_times, slot).await {
            slot.failures.push(format!("{e:#}"));
        }
        if (i + 1) % 10 == 0 || i + 1 == order.len() {
            eprintln!("  exit detection: {}/{} samples", i + 1, order.len());
        }
    }
    subscriber.abort();
    Ok(acc
        .into_iter()
        .map(|(arm, a)| {
            (
                arm,
                ArmExit {
                    detect_ms: Series::new(a.detect),
                    die_event_ms: Series::new(a.die),
                    recorded_ms: Series::new(a.recorded),
                    lifecycle_cpu_ms: Series::new(a.cpu),
                    failures: a.failures,
                },
            )
        })
        .collect())
}

fn ms_between(from_ns: i128, to_ns: i128) -> f64 {
    (to_ns - from_ns) as f64 / 1e6
}

/// The die event's arrival for `id`, waiting up to a second for it.
async fn die_time(die_times: &DieTimes, id: &str) -> Option<i128> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(t) = die_times.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            return Some(t);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn one(ctx: &Ctx, arm: Arm, script: &str, die_times: &DieTimes, out: &mut Acc) -> anyhow::Result<()> {
    let (plan, _) = ctx.planner.plan(script)?;
    let rt = &ctx.raw;
    let cpu = cpu_time();
    let (id, done_ns, finished_at) = match ctx.launcher(arm) {
        None => {
            let id = raw::launch(rt, &plan).await?;
            let code = rt.wait_exit(&id).await?;
            let done_ns = now_unix_nanos();
            let st = rt.inspect(&id).await?;
            raw::remove(rt, &id).await?;
            if code != EXIT_CODE || st.exit_code != Some(EXIT_CODE) {
                anyhow::bail!("raw job {id} exited {code} / {:?}", st.exit_code);
            }
            (id, done_ns, st.finished_at)
        }
        Some(launcher) => {
            let handle = launcher.launch(plan).await?;
            let code = handle.wait().await;
            let done_ns = now_unix_nanos();
            let outcome = handle.outcome();
            let exit_code = outcome.as_ref().and_then(|o| o.exit_code);
            if code != JobReturnCode::ExecutionError || exit_code != Some(EXIT_CODE) {
                anyhow::bail!(
                    "berth job {} ended {code:?} / {exit_code:?}",
                    handle.container_name()
                );
            }
            // The container's own FinishedAt (the outcome's finish time is the die event's
            // stamp): it is still there, as its removal follows the terminal state and the
            // engine answers this inspect only once its exit handling is over.
            let finished_at = match rt.inspect(handle.container_id()).await {
                Ok(st) => st.finished_at,
                Err(e) => anyhow::bail!(
                    "cannot read FinishedAt of {} after wait: {e}",
                    handle.container_name()
                ),
            };
            handle.wait_settled().await;
            if !raw::is_gone(rt, handle.container_id()).await {
                anyhow::bail!("berth left the container of {}", handle.container_name());
            }
            if let (Some(o), Some(f)) = (&outcome, finished_at.as_deref().and_then(parse_unix_nanos)) {
                out.recorded
                    .push(ms_between(f, i128::from(o.recorded_at_ms) * 1_000_000));
            }
            (handle.container_id().to_string(), done_ns, finished_at)
        }
    };
    out.cpu.push((cpu_time() - cpu).as_secs_f64() * 1e3);
    let finished = finished_at
        .as_deref()
        .and_then(parse_unix_nanos)
        .ok_or_else(|| anyhow::anyhow!("no usable FinishedAt for {id}: {finished_at:?}"))?;
    out.detect.push(ms_between(finished, done_ns));
    if let Some(die) = die_time(die_times, &id).await {
        out.die.push(ms_between(finished, die));
    }
    Ok(())
}
