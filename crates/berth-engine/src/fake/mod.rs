//! An in-memory container engine for lifecycle tests.
//!
//! [`FakeRuntime`] answers every [`ContainerRuntime`] request from a table of containers,
//! images and networks, with the engine's 404 / 304 / 409 answers, and lets a test script
//! what a real engine does on its own: a job exiting with a code, being OOM-killed or
//! going dead, a slow stop, a container that never reaches `running`, a container removed
//! behind berth's back, an unreachable engine, an event stream cut on demand. Every request
//! is logged, so tests can assert what was (not) asked and in which order.
//!
//! It is cheap to clone; clones share one engine.
//!
//! `answers` holds the engine's answers to every request; `state` the table they read and
//! change; `images`, `networks`, `script` (what a container does on its own), `events` and
//! `logs` what a test sets up and scripts, one area each.

mod answers;
mod events;
mod images;
mod logs;
mod networks;
mod script;
mod state;

pub use script::StartBehavior;
pub use state::FakeStatus;

use crate::runtime::*;
use state::State;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The engine requests the fake counts, one per [`ContainerRuntime`] method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Ping,
    NetworkExists,
    ImageExists,
    PullImage,
    Create,
    Start,
    Inspect,
    Stop,
    Remove,
    List,
    Events,
    Logs,
    WaitExit,
    InspectRaw,
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Position in the request log, from 0.
    pub seq: usize,
    pub method: Method,
    /// The container id or name, image, or network the request named (empty for none).
    pub target: String,
}

/// An in-memory engine. See the module docs.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl std::fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRuntime").finish_non_exhaustive()
    }
}

impl FakeRuntime {
    /// An empty, reachable engine: no images, no networks, no containers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reachable engine with `network` and `image` present.
    pub fn with(network: &str, image: &str) -> Self {
        let fake = Self::new();
        fake.add_network(network);
        fake.add_image(image);
        fake
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain table; a panicking test thread cannot leave it half-updated
        // in a way later assertions would misread.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Log the request and answer any scripted error for it.
    fn begin(&self, method: Method, target: &str) -> EngineResult<()> {
        let mut s = self.lock();
        let seq = s.requests.len();
        s.requests.push(Request {
            seq,
            method,
            target: target.to_string(),
        });
        if s.unreachable {
            return Err(EngineError::Unreachable(
                "connect: no such file or directory (fake engine is down)".into(),
            ));
        }
        if let Some(err) = s.next_errors.get_mut(&method).and_then(|q| q.pop_front()) {
            return Err(err);
        }
        if let Some(err) = s.sticky_errors.get(&method) {
            return Err(err.clone());
        }
        Ok(())
    }

    /// [`Self::begin`], after waiting while the engine is hung.
    async fn enter(&self, method: Method, target: &str) -> EngineResult<()> {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        loop {
            let released = self.changed.notified();
            if !self.lock().hung {
                break;
            }
            released.await;
        }
        self.begin(method, target)
    }

    fn touched(&self) {
        self.changed.notify_waiters();
    }

    /// An engine that answers nothing: every request fails with `Unreachable`.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.lock().unreachable = unreachable;
    }

    /// An engine that accepts requests and never answers them (until set back to `false`).
    /// Streams already open keep flowing.
    pub fn set_hung(&self, hung: bool) {
        self.lock().hung = hung;
        self.touched();
    }

    /// Every request (streams aside) is answered `latency` late: a slow engine.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The next request of `method` answers `error` (queued, one per call).
    pub fn fail_next(&self, method: Method, error: EngineError) {
        self.lock()
            .next_errors
            .entry(method)
            .or_default()
            .push_back(error);
    }

    /// Every request of `method` answers `error` until cleared with `None`.
    pub fn fail_always(&self, method: Method, error: Option<EngineError>) {
        let mut s = self.lock();
        match error {
            Some(e) => s.sticky_errors.insert(method, e),
            None => s.sticky_errors.remove(&method),
        };
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// How many requests were made so far.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// How many requests of `method` were made.
    pub fn count(&self, method: Method) -> usize {
        self.lock().requests.iter().filter(|r| r.method == method).count()
    }

    /// How many requests of `method` named `target`.
    pub fn count_for(&self, method: Method, target: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.target == target)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_engine_and_scripted_errors() {
        let fake = FakeRuntime::with("net", "img");
        fake.set_unreachable(true);
        assert!(matches!(fake.ping().await, Err(EngineError::Unreachable(_))));
        fake.set_unreachable(false);
        fake.fail_next(
            Method::Ping,
            EngineError::Api {
                status: 500,
                message: "boom".into(),
            },
        );
        assert!(fake.ping().await.is_err());
        assert!(fake.ping().await.is_ok());
    }
}
