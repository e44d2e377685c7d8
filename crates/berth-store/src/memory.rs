//! An in-memory [`OutcomeStore`] for tests and for callers that keep no history.

use crate::{JobOutcome, LaunchRecord, OutcomeStore, StoreError};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    launches: Vec<LaunchRecord>,
    outcomes: Vec<JobOutcome>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn launches(&self) -> Vec<LaunchRecord> {
        self.lock().launches.clone()
    }

    pub fn outcomes(&self) -> Vec<JobOutcome> {
        self.lock().outcomes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the vectors half-written.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl OutcomeStore for MemoryStore {
    /// Recording the same container again is a no-op, as in [`crate::SqliteStore`].
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if !inner
            .launches
            .iter()
            .any(|l| l.container_id == launch.container_id)
        {
            inner.launches.push(launch.clone());
        }
        Ok(())
    }

    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner
            .outcomes
            .iter()
            .find(|o| o.container_id == outcome.container_id)
        {
            return Ok(existing.clone());
        }
        inner.outcomes.push(outcome.clone());
        Ok(outcome.clone())
    }

    fn withdraw_outcome(&self, outcome: &JobOutcome) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let before = inner.outcomes.len();
        inner.outcomes.retain(|o| {
            !(o.container_id == outcome.container_id
                && o.observed_by == outcome.observed_by
                && o.recorded_at_ms == outcome.recorded_at_ms)
        });
        Ok(inner.outcomes.len() < before)
    }

    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError> {
        Ok(self
            .lock()
            .outcomes
            .iter()
            .find(|o| o.container_id == container_id)
            .cloned())
    }

    fn launch_record(&self, container_id: &str) -> Result<Option<LaunchRecord>, StoreError> {
        Ok(self
            .lock()
            .launches
            .iter()
            .find(|l| l.container_id == container_id)
            .cloned())
    }

    fn pending_launches(&self, site: &str) -> Result<Vec<LaunchRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .launches
            .iter()
            .filter(|l| l.site == site)
            .filter(|l| !inner.outcomes.iter().any(|o| o.container_id == l.container_id))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObservedBy;
    use berth_core::JobReturnCode;

    fn outcome(code: JobReturnCode) -> JobOutcome {
        JobOutcome {
            job_id: "j".into(),
            container_id: "c".into(),
            return_code: code,
            exit_code: None,
            oom_killed: false,
            finished_at: None,
            observed_by: ObservedBy::Inspect,
            recorded_at_ms: 0,
        }
    }

    #[test]
    fn first_outcome_wins() {
        let s = MemoryStore::new();
        assert_eq!(
            s.record_outcome(&outcome(JobReturnCode::Success))
                .unwrap()
                .return_code,
            JobReturnCode::Success
        );
        assert_eq!(
            s.record_outcome(&outcome(JobReturnCode::Aborted))
                .unwrap()
                .return_code,
            JobReturnCode::Success
        );
        assert_eq!(s.outcomes().len(), 1);
    }
}
