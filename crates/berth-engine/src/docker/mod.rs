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
//! A launch's requests (create, start, inspect) and stop, remove and list go through one
//! pooled client ([`crate::raw`]) with the negotiated version in the path; bollard serves
//! the rest (version negotiation, images, networks, events, logs, wait). A stop answered
//! 304 (the container was not running) is success, as bollard reads it.
//!
//! One module per Engine API area: `system` (version negotiation, ping), `images`,
//! `networks`, `containers` (with the create body's check in `create_body`), `events` and
//! `logs`; `connection` holds the address and the mapping of bollard's errors.

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
use create_body::CheckedShapes;
use futures::stream::BoxStream;
use std::sync::Arc;
use system::negotiate;
use tokio::sync::OnceCell;

/// The local socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

struct Inner {
    endpoint: Endpoint,
    /// The pooled client on the same address, for the requests bollard does not make.
    raw: RawClient,
    /// The client for the negotiated API version and the engine it talks to, set by the first
    /// successful negotiation.
    client: OnceCell<(Docker, EngineInfo)>,
    /// The create body shapes that passed the check against bollard's model.
    create_shapes: CheckedShapes,
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
                    Endpoint::Unix(path) => RawClient::unix(path, endpoint.describe()),
                    Endpoint::Http(url) => RawClient::http(url, endpoint.describe()),
                },
                endpoint,
                client: OnceCell::new(),
                create_shapes: CheckedShapes::default(),
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

    /// `path_and_query` under the negotiated version: `/v1.xx<path_and_query>`.
    async fn versioned(&self, path_and_query: &str) -> EngineResult<String> {
        let (_, info) = self.negotiated().await?;
        Ok(format!("/v{}{path_and_query}", info.api_version))
    }

    /// `GET /v<negotiated><path>` decoded as `T`, outside bollard (see [`crate::raw`]).
    async fn get<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> EngineResult<T> {
        self.inner.raw.get(&self.versioned(path_and_query).await?).await
    }

    /// `GET /v<negotiated><path>`, the whole answer as JSON.
    async fn get_json(&self, path_and_query: &str) -> EngineResult<serde_json::Value> {
        self.inner
            .raw
            .get_json(&self.versioned(path_and_query).await?)
            .await
    }

    /// `method /v<negotiated><path>` with a JSON body (empty for none), on the pooled
    /// client; the answer's body (see [`crate::raw::RawClient::send`]).
    async fn send(
        &self,
        method: hyper::Method,
        path_and_query: &str,
        body: bytes::Bytes,
    ) -> EngineResult<bytes::Bytes> {
        self.inner
            .raw
            .send(method, &self.versioned(path_and_query).await?, body)
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

    async fn kill(&self, id: &str) -> EngineResult<()> {
        containers::kill(self, id).await
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
