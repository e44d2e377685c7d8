//! [`DockerRuntime`]: the [`ContainerRuntime`] over the Docker Engine API (bollard).
//!
//! Works with Docker Engine 20.10+ (API 1.41+) and Podman's Docker-compatible socket.
//!
//! Connection is lazy: building a `DockerRuntime` touches nothing. The first request
//! negotiates the API version: berth asks `GET /v1.41/version` (a request every engine
//! from 1.41 on accepts), refuses an engine older than 1.41 with [`EngineError::TooOld`],
//! and then speaks `min(engine, bollard's newest)` for every later request. bollard's own
//! `negotiate_version` asks with its newest version, which a 20.10 engine rejects as
//! "too new", so berth does not use it.
//!
//! bollard reads 304 as success, so [`DockerRuntime::stop`] finds out whether the container
//! was running by inspecting it first.
//!
//! One module per Engine API area: `system` (version negotiation, ping), `images`,
//! `networks`, `containers` (with the create body's check in `create_body`),
//! `events` and `logs`; `connection` holds the address and the error mapping.

mod connection;
mod containers;
mod create_body;
mod events;
mod images;
mod logs;
mod networks;
mod system;

pub use create_body::create_body_model;
pub use images::familiar_image_name;
pub use system::{PodmanHost, MIN_API_VERSION};

use crate::raw::RawClient;
use crate::runtime::{
    ContainerEvent, ContainerRuntime, ContainerState, ContainerSummary, EngineError, EngineInfo,
    EngineResult, LabelFilter, LogChunk,
};
use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::Docker;
use connection::{map_error, Endpoint};
use futures::stream::BoxStream;
use std::sync::Arc;
use system::negotiate;
use tokio::sync::OnceCell;

/// The local socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

struct Inner {
    endpoint: Endpoint,
    /// Plain JSON reads (inspect, list) on the same address.
    raw: RawClient,
    /// The client for the negotiated API version and the engine it talks to, set by the first
    /// successful negotiation.
    client: OnceCell<(Docker, EngineInfo)>,
}

/// The Docker Engine API runtime. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("endpoint", &self.inner.endpoint.describe())
            .finish()
    }
}

impl DockerRuntime {
    /// The engine named by `DOCKER_HOST`, else the local socket `/var/run/docker.sock`.
    /// Does not contact the engine.
    pub fn from_env() -> EngineResult<Self> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.trim().is_empty() => Self::connect(&host),
            _ => Self::connect(DEFAULT_SOCKET),
        }
    }

    /// The engine at `socket_or_url`: `unix:///path`, `/path`, `tcp://host:port` or
    /// `http://host:port`. Does not contact the engine: the first request does.
    pub fn connect(socket_or_url: &str) -> EngineResult<Self> {
        let endpoint = Endpoint::parse(socket_or_url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                raw: match &endpoint {
                    Endpoint::Unix(path) => RawClient::unix(path),
                    Endpoint::Http(url) => RawClient::http(url),
                },
                endpoint,
                client: OnceCell::new(),
            }),
        })
    }

    /// The address in use, as `unix:///path` or `tcp://host:port`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.describe()
    }

    /// The client for the negotiated API version, negotiating on first use. A failure is
    /// not cached, so the next call tries again.
    async fn client(&self) -> EngineResult<&Docker> {
        Ok(&self.negotiated().await?.0)
    }

    async fn negotiated(&self) -> EngineResult<&(Docker, EngineInfo)> {
        self.inner
            .client
            .get_or_try_init(|| negotiate(&self.inner.endpoint))
            .await
    }

    /// The engine this runtime talks to (negotiating on first use): Docker or Podman, and
    /// its version. Create bodies are adapted to it ([`crate::dialect`]).
    pub async fn engine(&self) -> EngineResult<EngineInfo> {
        Ok(self.negotiated().await?.1.clone())
    }

    /// `GET /v<negotiated>/<path>` as JSON, outside bollard's models (see [`crate::raw`]).
    async fn get_json(&self, path_and_query: &str) -> EngineResult<serde_json::Value> {
        let (_, info) = self.negotiated().await?;
        self.inner
            .raw
            .get_json(
                &format!("/v{}{path_and_query}", info.api_version),
                &self.inner.endpoint.describe(),
            )
            .await
    }

    fn err(&self, e: BollardError) -> EngineError {
        map_error(e, &self.inner.endpoint)
    }
}

pub(super) fn json_str(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(super) fn label_filter_values(filters: &[LabelFilter]) -> Vec<String> {
    filters
        .iter()
        .map(|f| match &f.value {
            Some(v) => format!("{}={}", f.key, v),
            None => f.key.clone(),
        })
        .collect()
}

/// The trait's requests, each answered by its API area's module.
#[async_trait]
impl ContainerRuntime for DockerRuntime {
    fn address(&self) -> String {
        self.endpoint()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        system::ping(self).await
    }

    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        networks::exists(self, name).await
    }

    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        images::exists(self, image).await
    }

    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        images::pull(self, image).await
    }

    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        platform: Option<&str>,
    ) -> EngineResult<String> {
        containers::create(self, name, body, platform).await
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        containers::start(self, id).await
    }

    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        containers::inspect(self, id).await
    }

    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()> {
        containers::stop(self, id, grace_secs).await
    }

    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        containers::remove(self, id, force).await
    }

    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        containers::list(self, filters, all).await
    }

    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        events::open(self, filters)
    }

    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        logs::open(self, id, follow)
    }

    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        containers::wait_exit(self, id).await
    }

    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        containers::inspect_raw(self, id).await
    }
}
