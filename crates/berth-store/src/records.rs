//! The records and the store trait the launcher writes through.

use berth_core::args::Role;
use berth_core::JobReturnCode;

/// One launch: written once the container exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRecord {
    pub job_id: String,
    pub site: String,
    pub role: Role,
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    /// Digest of the container-create body (also the container's plan-digest label).
    pub plan_digest: String,
    /// The host workspace.
    pub workspace: String,
    /// Unix milliseconds.
    pub launched_at_ms: i64,
}

/// How an outcome was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObservedBy {
    /// The engine's die/oom event, then an inspect of the stopped container.
    Event,
    /// A poll / wait / enter_states inspect.
    Inspect,
    /// `terminate()`: always ABORTED.
    Terminate,
    /// Recovery after a restart found the stopped container.
    Recovery,
    /// The container disappeared before its exit code could be read.
    Vanished,
    /// The container never reached `running` within the site timeout.
    StartTimeout,
}

impl ObservedBy {
    /// Every observation, in declaration order.
    pub const ALL: [ObservedBy; 6] = [
        ObservedBy::Event,
        ObservedBy::Inspect,
        ObservedBy::Terminate,
        ObservedBy::Recovery,
        ObservedBy::Vanished,
        ObservedBy::StartTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObservedBy::Event => "event",
            ObservedBy::Inspect => "inspect",
            ObservedBy::Terminate => "terminate",
            ObservedBy::Recovery => "recovery",
            ObservedBy::Vanished => "vanished",
            ObservedBy::StartTimeout => "start-timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// How a job ended. Exit status is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub job_id: String,
    pub container_id: String,
    pub return_code: JobReturnCode,
    /// The container's exit code, when it was read.
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// RFC 3339, as the engine reported `State.FinishedAt`.
    pub finished_at: Option<String>,
    pub observed_by: ObservedBy,
    /// Unix milliseconds.
    pub recorded_at_ms: i64,
}

impl JobOutcome {
    /// The one way to make an outcome: how the job ended, who saw it, and when it was
    /// recorded. What the engine said of the exit (code, OOM flag, finish time) is unknown
    /// until [`Self::with_exit`] adds it.
    pub fn new(
        job_id: &str,
        container_id: &str,
        return_code: JobReturnCode,
        observed_by: ObservedBy,
        recorded_at_ms: i64,
    ) -> Self {
        Self {
            job_id: job_id.to_string(),
            container_id: container_id.to_string(),
            return_code,
            exit_code: None,
            oom_killed: false,
            finished_at: None,
            observed_by,
            recorded_at_ms,
        }
    }

    /// The exit as the engine reported it.
    pub fn with_exit(
        mut self,
        exit_code: Option<i64>,
        oom_killed: bool,
        finished_at: Option<String>,
    ) -> Self {
        self.exit_code = exit_code;
        self.oom_killed = oom_killed;
        self.finished_at = finished_at;
        self
    }
}

/// One launch and, once its end was observed, its outcome: a row of `berth ps --all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub launch: LaunchRecord,
    pub outcome: Option<JobOutcome>,
}

impl HistoryEntry {
    /// When the launch was recorded, in Unix milliseconds.
    pub fn started_ms(&self) -> i64 {
        self.launch.launched_at_ms
    }

    /// When the job ended, in Unix milliseconds: the engine's `FinishedAt` when it was read
    /// and parses, else the time the outcome was recorded. `None` while no outcome exists.
    pub fn finished_ms(&self) -> Option<i64> {
        let outcome = self.outcome.as_ref()?;
        Some(
            outcome
                .finished_at
                .as_deref()
                .and_then(crate::time::unix_ms_from_rfc3339)
                .unwrap_or(outcome.recorded_at_ms),
        )
    }

    /// Run time in milliseconds (never negative); `None` while no outcome exists.
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_ms().map(|end| (end - self.started_ms()).max(0))
    }

    /// The job's return code, once known.
    pub fn return_code(&self) -> Option<JobReturnCode> {
        self.outcome.as_ref().map(|o| o.return_code)
    }
}

/// Which launches a history query returns. Every field left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchFilter {
    pub site: Option<String>,
    pub job_id: Option<String>,
    pub role: Option<Role>,
    /// Only launches at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Keep only launches that have (`Some(true)`) or lack (`Some(false)`) an outcome.
    pub finished: Option<bool>,
    /// At most this many, the newest ones (still returned oldest first).
    pub limit: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {message}")]
    Io { path: String, message: String },
    #[error("state store {path} is corrupt: {message}")]
    Corrupt { path: String, message: String },
    /// Another process held the store's write lock longer than the busy timeout.
    #[error("state store {path} is busy: {message}")]
    Busy { path: String, message: String },
    /// The file is a database berth cannot use as it is (another program's, or a newer
    /// schema). It is left untouched.
    #[error("state store {path} cannot be used: {message}")]
    Incompatible { path: String, message: String },
}

impl StoreError {
    /// The store file the error is about.
    pub fn path(&self) -> &str {
        match self {
            StoreError::Io { path, .. }
            | StoreError::Corrupt { path, .. }
            | StoreError::Busy { path, .. }
            | StoreError::Incompatible { path, .. } => path,
        }
    }
}

/// Where the launcher records launches and outcomes. Implementations must make an outcome
/// durable before returning (a launch record may wait for the next durable write: the
/// container's labels let recovery rebuild it), and must be safe to use from several
/// processes at once. Calls block; the launcher makes them off its async threads.
pub trait OutcomeStore: Send + Sync {
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError>;
    /// Record the outcome of a launch. The first outcome for a container wins; later ones
    /// are ignored and the stored one is returned.
    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError>;
    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError>;
    /// Take back an outcome this process recorded a moment ago whose event did not happen
    /// (a terminate records ABORTED while its stop is under way; the engine may then turn
    /// out not to have heard the stop). Removes the stored outcome only when it is exactly
    /// `outcome` (same container, observer and record time); `true` when one was removed.
    fn withdraw_outcome(&self, outcome: &JobOutcome) -> Result<bool, StoreError>;
    /// The launch record of a container, if the store has one. Recovery uses it to tell
    /// a container the store does not know (a rebuilt store) from one it does. The default
    /// knows none.
    fn launch_record(&self, container_id: &str) -> Result<Option<LaunchRecord>, StoreError> {
        let _ = container_id;
        Ok(None)
    }
    /// Launches of `site` that have no outcome yet, oldest first: what recovery must
    /// settle. The default has none.
    fn pending_launches(&self, site: &str) -> Result<Vec<LaunchRecord>, StoreError> {
        let _ = site;
        Ok(Vec::new())
    }
}
