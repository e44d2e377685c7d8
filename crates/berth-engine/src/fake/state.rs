//! The fake engine's world: its containers, event subscribers and scripted answers.

use super::script::StartBehavior;
use super::{Method, Request};
use crate::runtime::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// A container's life in the fake. `Removed` containers answer 404 everywhere but stay
/// visible to [`FakeRuntime::status`](super::FakeRuntime::status) so tests can tell "removed" from "never existed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeStatus {
    Created,
    Running,
    Exited,
    Dead,
    Removed,
}

impl FakeStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            FakeStatus::Created => "created",
            FakeStatus::Running => "running",
            FakeStatus::Exited => "exited",
            FakeStatus::Dead => "dead",
            FakeStatus::Removed => "removing",
        }
    }

    pub(super) fn is_stopped(self) -> bool {
        matches!(self, FakeStatus::Exited | FakeStatus::Dead)
    }
}

#[derive(Debug, Clone)]
pub(super) struct FakeContainer {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) image: String,
    pub(super) status: FakeStatus,
    pub(super) exit_code: Option<i64>,
    pub(super) oom_killed: bool,
    pub(super) started_at: Option<String>,
    pub(super) finished_at: Option<String>,
    pub(super) labels: HashMap<String, String>,
    pub(super) created: i64,
    pub(super) logs: Vec<LogChunk>,
    /// The create body as received (`Null` for seeded containers).
    pub(super) body: serde_json::Value,
}

impl FakeContainer {
    pub(super) fn state(&self) -> ContainerState {
        ContainerState {
            id: self.id.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            status: self.status.as_str().to_string(),
            exit_code: self.exit_code,
            oom_killed: self.oom_killed,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            labels: self.labels.clone(),
        }
    }
}

pub(super) struct Subscriber {
    pub(super) filters: Vec<LabelFilter>,
    pub(super) tx: mpsc::UnboundedSender<EngineResult<ContainerEvent>>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) containers: Vec<FakeContainer>,
    pub(super) images: HashSet<String>,
    pub(super) pullable: HashSet<String>,
    pub(super) networks: HashSet<String>,
    pub(super) unreachable: bool,
    /// Every request waits (accepted, never answered) while set.
    pub(super) hung: bool,
    /// Every request is answered this late.
    pub(super) latency: Duration,
    pub(super) events_refused: bool,
    pub(super) events_held: bool,
    pub(super) held: VecDeque<ContainerEvent>,
    pub(super) subscribers: Vec<Subscriber>,
    pub(super) subscriptions_opened: usize,
    pub(super) start_behavior: HashMap<String, StartBehavior>,
    pub(super) stop_delay: Duration,
    pub(super) remove_delay: Duration,
    pub(super) remove_conflicts: HashMap<String, usize>,
    pub(super) next_errors: HashMap<Method, VecDeque<EngineError>>,
    pub(super) sticky_errors: HashMap<Method, EngineError>,
    pub(super) requests: Vec<Request>,
    pub(super) next_id: u64,
}

impl State {
    pub(super) fn find(&self, id_or_name: &str) -> Option<usize> {
        let live = |c: &&FakeContainer| c.status != FakeStatus::Removed;
        self.containers
            .iter()
            .position(|c| live(&c) && (c.id == id_or_name || c.name == id_or_name))
            .or_else(|| {
                // Like the engine: a unique id prefix names a container too.
                let hits: Vec<usize> = self
                    .containers
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| live(c) && id_or_name.len() >= 4 && c.id.starts_with(id_or_name))
                    .map(|(i, _)| i)
                    .collect();
                (hits.len() == 1).then(|| hits[0])
            })
    }

    pub(super) fn not_found(id: &str) -> EngineError {
        EngineError::NotFound(format!("No such container: {id}"))
    }

    pub(super) fn emit(&mut self, idx: usize, kind: ContainerEventKind) {
        let c = &self.containers[idx];
        let event = ContainerEvent {
            id: c.id.clone(),
            kind,
            labels: c.labels.clone(),
            time_nano: now_nanos(),
        };
        if self.events_held {
            self.held.push_back(event);
        } else {
            self.deliver(event);
        }
    }

    pub(super) fn deliver(&mut self, event: ContainerEvent) {
        self.subscribers.retain(|s| !s.tx.is_closed());
        for sub in &self.subscribers {
            if sub.filters.iter().all(|f| f.matches(&event.labels)) {
                let _ = sub.tx.send(Ok(event.clone()));
            }
        }
    }

    /// The main process ends: `exited` with `code` (or `dead`), and a die event.
    pub(super) fn finish(&mut self, idx: usize, status: FakeStatus, code: Option<i64>) {
        let c = &mut self.containers[idx];
        c.status = status;
        c.exit_code = code;
        c.finished_at = Some(rfc3339_now());
        self.emit(idx, ContainerEventKind::Die { exit_code: code });
    }

    pub(super) fn remove_at(&mut self, idx: usize) {
        if self.containers[idx].status == FakeStatus::Running {
            self.finish(idx, FakeStatus::Exited, Some(137));
        }
        self.containers[idx].status = FakeStatus::Removed;
        self.emit(idx, ContainerEventKind::Destroy);
    }
}

pub(super) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Now as the engine writes times, to the second (`2024-05-01T12:00:03Z`).
pub(super) fn rfc3339_now() -> String {
    let nanos = now_nanos();
    berth_core::time::rfc3339_from_unix_nanos(nanos - nanos.rem_euclid(1_000_000_000)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
