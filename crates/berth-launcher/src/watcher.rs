//! The launcher's one event task: exit detection for every job of the site.
//!
//! One engine event subscription, filtered by berth's managed label and the site, however
//! many jobs run. A die event that carries the exit code, of a container the engine will
//! not restart, starts a short task that records the outcome from the event itself, sets
//! the handle's state, then copies the output and removes the container. Any other die
//! event, or a destroy event, starts one that inspects the container first. When the
//! stream drops, the task re-subscribes with backoff and re-syncs: it lists the site's
//! labeled containers and settles every tracked job that ended or vanished meanwhile.

use crate::executor::Shared;
use crate::job::{lock, now_ms, HandleState, OnMissing, Seen};
use crate::lifecycle::Observation;
use berth_core::DockerStatus;
use berth_engine::{ContainerEvent, ContainerEventKind, EngineResult};
use berth_store::time::rfc3339_from_unix_nanos;
use berth_store::ObservedBy;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// An open subscription, and an event it already yielded while being checked.
type Subscription = (
    BoxStream<'static, EngineResult<ContainerEvent>>,
    Option<ContainerEvent>,
);

/// Start the event task unless it runs already. The subscription is opened here, before
/// the caller goes on to create a container, so the container's events are not missed.
/// Must be called inside a tokio runtime.
pub(crate) fn ensure_started(shared: &Arc<Shared>) {
    let mut slot = lock(&shared.watcher);
    if slot.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            let first = subscribe(shared);
            *slot = Some(rt.spawn(run(Arc::downgrade(shared), first)));
        }
        Err(_) => tracing::error!("no tokio runtime: exit events cannot be followed"),
    }
}

/// Open the site's event subscription. A stream that fails at once (engine down, events
/// refused) is no subscription: the launcher stays "disconnected" and handles inspect.
fn subscribe(shared: &Arc<Shared>) -> Option<Subscription> {
    let mut stream = shared.runtime.events(&shared.site_filters());
    let pending = match stream.next().now_or_never() {
        None => None,
        Some(Some(Ok(event))) => Some(event),
        Some(Some(Err(e))) => {
            tracing::warn!("cannot subscribe to engine events: {e}");
            return None;
        }
        Some(None) => {
            tracing::warn!("cannot subscribe to engine events: the stream ended at once");
            return None;
        }
    };
    shared.events_connected.send_replace(true);
    tokio::spawn(resync(shared.clone()));
    Some((stream, pending))
}

/// The task holds only a weak reference, so it ends when the launcher and every handle
/// are gone (and `Shared`'s drop aborts it at once).
async fn run(weak: Weak<Shared>, mut subscription: Option<Subscription>) {
    let mut backoff: Option<Duration> = None;
    loop {
        if let Some((mut stream, pending)) = subscription.take() {
            if let Some(event) = pending {
                let Some(shared) = weak.upgrade() else { return };
                on_event(&shared, event);
            }
            loop {
                match stream.next().await {
                    Some(Ok(event)) => {
                        backoff = None;
                        let Some(shared) = weak.upgrade() else { return };
                        on_event(&shared, event);
                    }
                    Some(Err(e)) => {
                        tracing::warn!("engine event stream failed: {e}");
                        break;
                    }
                    None => {
                        tracing::warn!("engine event stream ended");
                        break;
                    }
                }
            }
            let Some(shared) = weak.upgrade() else { return };
            shared.events_connected.send_replace(false);
            // Waiters fall back to inspecting while no events flow.
            for h in lock(&shared.jobs).values() {
                h.nudge.notify_waiters();
            }
        }
        let pause = {
            let Some(shared) = weak.upgrade() else { return };
            let s = &shared.settings;
            backoff.map_or(s.reconnect_backoff_min, |b| (b * 2).min(s.reconnect_backoff_max))
        };
        backoff = Some(pause);
        tokio::time::sleep(pause).await;
        let Some(shared) = weak.upgrade() else { return };
        subscription = subscribe(&shared);
    }
}

fn on_event(shared: &Arc<Shared>, event: ContainerEvent) {
    let Some(h) = shared.tracked(&event.id) else {
        return;
    };
    let observation = match event.kind {
        ContainerEventKind::Oom => Observation::Oom,
        // Events arrive in order, so a destroy comes after the die that carried the code.
        ContainerEventKind::Die { exit_code } => Observation::Die {
            exit_code,
            finished_at: rfc3339_from_unix_nanos(event.time_nano),
            at_ms: now_ms(),
        },
        ContainerEventKind::Destroy => Observation::Destroyed,
        ContainerEventKind::Start | ContainerEventKind::Other(_) => return,
    };
    let actions = h.apply(observation);
    if !actions.is_empty() {
        let shared = shared.clone();
        tokio::spawn(async move { shared.run(&h, actions).await });
    }
}

/// Settle a job the event task knows has ended. When the engine does not answer, waiters
/// are told to inspect themselves, and the task retries with backoff. Boxed: settling runs
/// the lifecycle's actions, one of which starts this again.
pub(crate) fn settle_with_retry(
    shared: Arc<Shared>,
    h: Arc<HandleState>,
    by: ObservedBy,
    on_missing: OnMissing,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let mut pause = shared.settings.poll_interval;
        for _ in 0..8 {
            match shared.settle(&h, by, on_missing).await {
                Seen::Ended(_) => return,
                // A re-sync look at a live container: nothing to do.
                Seen::Status(_) if by != ObservedBy::Event => return,
                // The engine announced an end it does not show yet (or could not be asked):
                // waiters inspect on their own meanwhile.
                Seen::Status(_) | Seen::Unknown | Seen::Failed(_) => {
                    lock(&h.inner).undecided = true;
                    h.nudge.notify_waiters();
                }
            }
            tokio::time::sleep(pause).await;
            if h.terminal().is_some() {
                return;
            }
            pause = (pause * 2).min(shared.settings.settle_check_interval);
        }
    })
}

/// After (re)subscribing: settle every tracked job that ended or vanished while no
/// events were seen.
async fn resync(shared: Arc<Shared>) {
    let tracked: Vec<Arc<HandleState>> = lock(&shared.jobs)
        .values()
        .filter(|h| h.terminal().is_none())
        .cloned()
        .collect();
    if tracked.is_empty() {
        return;
    }
    match shared.runtime.list(&shared.site_filters(), true).await {
        Ok(listed) => {
            for h in tracked {
                let status = listed
                    .iter()
                    .find(|c| c.id == h.container_id)
                    .map(|c| DockerStatus::parse(&c.status));
                if status.is_none_or(DockerStatus::is_terminal) {
                    tokio::spawn(settle_with_retry(
                        shared.clone(),
                        h,
                        ObservedBy::Inspect,
                        OnMissing::Decide,
                    ));
                }
            }
        }
        Err(e) => {
            tracing::warn!("cannot list the site's containers to re-sync: {e}");
            for h in tracked {
                tokio::spawn(settle_with_retry(
                    shared.clone(),
                    h,
                    ObservedBy::Inspect,
                    OnMissing::Wait,
                ));
            }
        }
    }
}
