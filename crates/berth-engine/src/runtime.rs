//! The runtime trait and the plain data it exchanges.

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::collections::HashMap;

/// What went wrong talking to the engine. `NotFound`, `NotModified` and `Conflict` are
/// answers the lifecycle logic acts on; the rest are failures to report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// 404: no such container, image or network.
    #[error("not found: {0}")]
    NotFound(String),
    /// 304: the container was already in the requested state (stop of a stopped one).
    #[error("not modified")]
    NotModified,
    /// 409: a name conflict, or a removal already in progress.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine could not be reached (socket missing, refused, timed out).
    #[error("cannot reach the engine: {0}")]
    Unreachable(String),
    /// The engine speaks an API older than berth supports.
    #[error("engine API version {found} is older than the minimum {minimum}")]
    TooOld { found: String, minimum: String },
    /// The engine cannot keep something the plan asks for; berth refuses rather than let it
    /// start a container that differs from the plan (see [`crate::dialect`]).
    #[error("{engine} cannot keep {what}: {why}")]
    Unsupported {
        engine: String,
        what: String,
        why: String,
    },
    /// Any other answer from the engine.
    #[error("engine error {status}: {message}")]
    Api { status: u16, message: String },
}

impl EngineError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::NotFound(_))
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// The engine's identity, from ping + version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// The negotiated API version in use (e.g. `1.41`).
    pub api_version: String,
    /// The engine's own version string (e.g. `20.10.24`).
    pub engine_version: String,
    /// `Docker Engine`, `Podman Engine`, ...
    pub platform: String,
}

/// A container as inspected: the fields the lifecycle needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerState {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    /// `State.Status`: created, running, exited, dead, ...
    pub status: String,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// RFC 3339 as the engine reports it; `None` when zero / unset.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub labels: HashMap<String, String>,
}

/// One row of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    /// `State` of the listing: created, running, exited, ...
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    pub labels: HashMap<String, String>,
}

/// A label filter: the key must be present, and equal the value when one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

impl LabelFilter {
    pub fn has(key: &str) -> Self {
        Self {
            key: key.to_string(),
            value: None,
        }
    }
    pub fn eq(key: &str, value: &str) -> Self {
        Self {
            key: key.to_string(),
            value: Some(value.to_string()),
        }
    }
    pub fn matches(&self, labels: &HashMap<String, String>) -> bool {
        match (&self.value, labels.get(&self.key)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(got)) => want == got,
        }
    }
}

/// A container event berth acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEventKind {
    Start,
    /// The main process ended; the engine's `exitCode` attribute when present.
    Die {
        exit_code: Option<i64>,
    },
    Oom,
    Destroy,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    pub kind: ContainerEventKind,
    /// The container's labels as the event carries them.
    pub labels: HashMap<String, String>,
    /// Nanoseconds since the Unix epoch, as the engine stamped it.
    pub time_nano: i64,
}

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: LogStream,
    pub bytes: Vec<u8>,
}

/// The whole surface berth uses of a container engine.
///
/// Every method is one engine request (or one stream); none retries or sleeps, and none
/// has a deadline of its own: [`crate::deadline::DeadlineRuntime`] adds one to every
/// request, and the launcher always installs it.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Where the engine is, for messages (`unix:///var/run/docker.sock`). Wrappers forward it.
    fn address(&self) -> String {
        "the container engine".to_string()
    }
    /// Ping the engine and read its version; refuses an API older than 1.41.
    async fn ping(&self) -> EngineResult<EngineInfo>;
    /// `Ok(false)` when the network does not exist.
    async fn network_exists(&self, name: &str) -> EngineResult<bool>;
    /// `Ok(false)` when the image is not present locally.
    async fn image_exists(&self, image: &str) -> EngineResult<bool>;
    /// Pull an image from its registry (only when the site allows pulling).
    async fn pull_image(&self, image: &str) -> EngineResult<()>;
    /// `POST /containers/create?name=<name>` with `body` as the JSON request body; returns
    /// the full container id. `NotFound` when the image is missing, `Conflict` when the
    /// name is taken.
    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        platform: Option<&str>,
    ) -> EngineResult<String>;
    async fn start(&self, id: &str) -> EngineResult<()>;
    /// Inspect by id or name.
    async fn inspect(&self, id: &str) -> EngineResult<ContainerState>;
    /// Stop with a grace period in seconds (0 = kill at once). A container that was not
    /// running is no error: `Ok`, or `NotModified` where the engine's 304 reaches the
    /// caller (the Docker runtime reads it as `Ok`, in one request).
    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()>;
    /// Kill at once and return once the container has stopped: a [`Self::stop`] with no
    /// grace, through the engine's quickest request for it. A container that was not running
    /// is no error. As after a stop, the engine does not restart the container (Docker
    /// 20.10 marks a killed container stopped by hand: one with restart policy `always`
    /// stayed exited). The default is the stop.
    async fn kill(&self, id: &str) -> EngineResult<()> {
        self.stop(id, 0).await
    }
    /// Remove, killing first when `force`. `NotFound` when it is already gone, `Conflict`
    /// when a removal is already in progress.
    async fn remove(&self, id: &str, force: bool) -> EngineResult<()>;
    /// Containers (all states when `all`) that match every filter.
    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>>;
    /// Container events (start, die, oom, destroy) of containers matching every filter,
    /// from now on. The stream ends or yields an error when the connection drops.
    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>>;
    /// The container's output; with `follow`, until it stops.
    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>>;
    /// `POST /containers/{id}/wait`: blocks until the container stops, returns its exit code.
    async fn wait_exit(&self, id: &str) -> EngineResult<i64>;
    /// The engine's whole inspect answer (`GET /containers/{id}/json`) as JSON, in the
    /// Engine API's field names, for audits. Not used by the lifecycle. The default answers
    /// an error, so runtimes that wrap another one keep compiling; they should forward it.
    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        Err(EngineError::Api {
            status: 0,
            message: format!("this runtime cannot give the full inspect answer of container {id}"),
        })
    }
}
