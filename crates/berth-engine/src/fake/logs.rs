//! Logs: a container's output as a test set it.

use super::state::{FakeStatus, State};
use super::{FakeRuntime, Method};
use crate::runtime::*;
use futures::stream::{self, BoxStream, StreamExt};

impl FakeRuntime {
    /// Set the output `logs` returns for a container.
    pub fn set_logs(&self, id_or_name: &str, chunks: Vec<LogChunk>) {
        let mut s = self.lock();
        if let Some(i) = s.find(id_or_name) {
            s.containers[i].logs = chunks;
        }
    }

    /// The container's output so far, or "not found".
    pub(super) fn logs_now(&self, id: &str) -> Vec<EngineResult<LogChunk>> {
        let s = self.lock();
        match s.find(id) {
            Some(i) => s.containers[i].logs.iter().cloned().map(Ok).collect(),
            None => vec![Err(State::not_found(id))],
        }
    }
}

pub(super) fn open(fake: &FakeRuntime, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
    if let Err(e) = fake.begin(Method::Logs, id) {
        return stream::once(async move { Err(e) }).boxed();
    }
    if !follow {
        return stream::iter(fake.logs_now(id)).boxed();
    }
    // Following goes on only while the container runs, as the engine's does.
    let this = fake.clone();
    let id = id.to_string();
    stream::once(async move {
        loop {
            let notified = this.changed.notified();
            {
                let s = this.lock();
                let running = s
                    .find(&id)
                    .is_some_and(|i| s.containers[i].status == FakeStatus::Running);
                if !running {
                    break;
                }
            }
            notified.await;
        }
        stream::iter(this.logs_now(&id))
    })
    .flatten()
    .boxed()
}
