//! Logs: a container's output as a test set it.

use super::state::State;
use super::FakeRuntime;
use crate::runtime::*;

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
