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
        [
            ObservedBy::Event,
            ObservedBy::Inspect,
            ObservedBy::Terminate,
            ObservedBy::Recovery,
            ObservedBy::Vanished,
            ObservedBy::StartTimeout,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {message}")]
    Io { path: String, message: String },
    #[error("state store {path} is corrupt: {message}")]
    Corrupt { path: String, message: String },
}

/// Where the launcher records launches and outcomes. Implementations must make a write
/// durable before returning, and must be safe to use from several processes at once.
pub trait OutcomeStore: Send + Sync {
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError>;
    /// Record the outcome of a launch. The first outcome for a container wins; later ones
    /// are ignored and the stored one is returned.
    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError>;
    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError>;
}
