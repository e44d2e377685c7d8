//! Launch latency, CPU per launch and terminate latency: sequential samples, arms in a
//! random interleaved order. Each sample launches a long-sleeping job, then terminates it,
//! so the engine holds the same load for every sample.

use crate::context::{Arm, Ctx};
use crate::procinfo::cpu_time;
use crate::raw;
use crate::stats::Series;
use anyhow::bail;
use berth_core::JobReturnCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The job: sleeps far longer than a sample takes.
const SCRIPT: &str = "sleep 600";

#[derive(Debug, Default, Serialize)]
pub struct ArmLaunch {
    /// `launch` call (or raw create) -> container seen running, ms.
    pub launch_ms: Series,
    /// Process CPU (user+sys) spent during each launch, ms.
    pub launch_cpu_ms: Series,
    /// terminate call (or raw stop) -> outcome recorded and container removed, ms.
    pub terminate_ms: Series,
    pub terminate_cpu_ms: Series,
    /// `build_plan` wall time, ms (the same core code for every arm; done before the clock starts).
    pub plan_ms: Series,
    pub failures: Vec<String>,
}

#[derive(Debug, Default)]
struct Raw {
    launch: Vec<f64>,
    launch_cpu: Vec<f64>,
    terminate: Vec<f64>,
    terminate_cpu: Vec<f64>,
    plan: Vec<f64>,
    failures: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `warmup` unrecorded rounds per arm (connections, the launcher's engine check and event
/// subscription), then `samples` per arm in random order.
pub async fn run(ctx: &mut Ctx, samples: usize, warmup: usize) -> anyhow::Result<BTreeMap<Arm, ArmLaunch>> {
    let arms = ctx.arms();
    let mut acc: BTreeMap<Arm, Raw> = arms.iter().map(|a| (*a, Raw::default())).collect();
    for arm in arms.iter().flat_map(|a| std::iter::repeat_n(*a, warmup)) {
        let mut scratch = Raw::default();
        one(ctx, arm, &mut scratch).await?;
        if let Some(f) = scratch.failures.first() {
            bail!("warm-up launch failed ({}): {f}", arm.label());
        }
    }
    let order = ctx.schedule(&arms, samples);
    for (i, arm) in order.iter().enumerate() {
        let slot = acc.entry(*arm).or_default();
        one(ctx, *arm, slot).await?;
        if (i + 1) % 10 == 0 || i + 1 == order.len() {
            eprintln!("  launch/terminate: {}/{} samples", i + 1, order.len());
        }
    }
    Ok(acc
        .into_iter()
        .map(|(arm, r)| {
            (
                arm,
                ArmLaunch {
                    launch_ms: Series::new(r.launch),
                    launch_cpu_ms: Series::new(r.launch_cpu),
                    terminate_ms: Series::new(r.terminate),
                    terminate_cpu_ms: Series::new(r.terminate_cpu),
                    plan_ms: Series::new(r.plan),
                    failures: r.failures,
                },
            )
        })
        .collect())
}

async fn one(ctx: &Ctx, arm: Arm, out: &mut Raw) -> anyhow::Result<()> {
    let (plan, plan_time) = ctx.planner.plan(SCRIPT)?;
    out.plan.push(ms(plan_time));
    let rt = &ctx.raw;
    match ctx.launcher(arm) {
        None => {
            let cpu = cpu_time();
            let t = Instant::now();
            let launched = raw::launch(rt, &plan).await;
            let (elapsed, cpu) = (t.elapsed(), cpu_time() - cpu);
            let id = match launched {
                Ok(id) => id,
                Err(e) => {
                    out.failures.push(format!("{e:#}"));
                    return Ok(());
                }
            };
            out.launch.push(ms(elapsed));
            out.launch_cpu.push(ms(cpu));
            let cpu = cpu_time();
            let t = Instant::now();
            let stopped = raw::terminate(rt, &id).await;
            let (elapsed, cpu) = (t.elapsed(), cpu_time() - cpu);
            match stopped {
                Ok(()) if raw::is_gone(rt, &id).await => {
                    out.terminate.push(ms(elapsed));
                    out.terminate_cpu.push(ms(cpu));
                }
                Ok(()) => out.failures.push(format!("raw terminate left {id}")),
                Err(e) => out.failures.push(format!("{e:#}")),
            }
        }
        Some(launcher) => {
            let cpu = cpu_time();
            let t = Instant::now();
            let launched = launcher.launch(plan).await;
            let (elapsed, cpu) = (t.elapsed(), cpu_time() - cpu);
            let handle = match launched {
                Ok(h) if h.terminal_state().is_none() => h,
                Ok(h) => {
                    out.failures.push(format!(
                        "berth launch of {} ended as {:?}",
                        h.container_name(),
                        h.terminal_state()
                    ));
                    return Ok(());
                }
                Err(e) => {
                    out.failures.push(e.to_string());
                    return Ok(());
                }
            };
            out.launch.push(ms(elapsed));
            out.launch_cpu.push(ms(cpu));
            let cpu = cpu_time();
            let t = Instant::now();
            let code = handle.terminate().await;
            let (elapsed, cpu) = (t.elapsed(), cpu_time() - cpu);
            let recorded = handle
                .outcome()
                .is_some_and(|o| o.return_code == JobReturnCode::Aborted);
            if code == JobReturnCode::Aborted && recorded && raw::is_gone(rt, handle.container_id()).await {
                out.terminate.push(ms(elapsed));
                out.terminate_cpu.push(ms(cpu));
            } else {
                out.failures.push(format!(
                    "berth terminate of {}: {code:?}, outcome {:?}",
                    handle.container_name(),
                    handle.outcome()
                ));
            }
        }
    }
    Ok(())
}
