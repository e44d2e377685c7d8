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

use crate::dialect::adapt_create_body;
use crate::raw::{self, RawClient};
use crate::runtime::{
    ContainerEvent, ContainerEventKind, ContainerRuntime, ContainerState, ContainerSummary, EngineError,
    EngineInfo, EngineResult, LabelFilter, LogChunk, LogStream,
};
use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, EventMessage, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The oldest Engine API berth speaks (Docker 20.10).
pub const MIN_API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// How many times an image import is tried when it races another import (Podman).
const IMPORT_ATTEMPTS: u32 = 3;

/// The local socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A ceiling on how long one request may wait for the engine's answer headers. It is not a
/// deadline: callers wrap calls in `tokio::time::timeout` with configured values. It only
/// keeps bollard's 2-minute default from cutting a long `stop` grace period short.
const REQUEST_CEILING_SECS: u64 = 24 * 60 * 60;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// A unix socket path (without `unix://`).
    Unix(String),
    /// `tcp://host:port` or `http://host:port`, plain HTTP.
    Http(String),
}

impl Endpoint {
    fn parse(socket_or_url: &str) -> EngineResult<Self> {
        let s = socket_or_url.trim();
        if let Some(path) = s.strip_prefix("unix://") {
            Ok(Endpoint::Unix(path.to_string()))
        } else if s.starts_with('/') {
            Ok(Endpoint::Unix(s.to_string()))
        } else if s.starts_with("tcp://") || s.starts_with("http://") {
            Ok(Endpoint::Http(s.to_string()))
        } else {
            Err(EngineError::Unreachable(format!(
                "unsupported engine address {s:?}: berth speaks to a unix socket (unix:///path or /path) \
                 or plain HTTP (tcp://host:port); TLS and ssh are not supported"
            )))
        }
    }

    fn describe(&self) -> String {
        match self {
            Endpoint::Unix(path) => format!("unix://{path}"),
            Endpoint::Http(url) => url.clone(),
        }
    }

    fn client(&self, version: &ClientVersion) -> Result<Docker, BollardError> {
        let docker = match self {
            Endpoint::Unix(path) => Docker::connect_with_unix(path, REQUEST_CEILING_SECS, version)?,
            Endpoint::Http(url) => Docker::connect_with_http(url, REQUEST_CEILING_SECS, version)?,
        };
        Ok(docker)
    }
}

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

    /// For a Podman service: whether it runs rootless, and its cgroup version (`v1`, `v2`),
    /// from Podman's own `/libpod/info`. `None` for Docker.
    pub async fn podman_host(&self) -> EngineResult<Option<PodmanHost>> {
        let (_, info) = self.negotiated().await?;
        if !matches!(info.family(), crate::dialect::EngineFamily::Podman { .. }) {
            return Ok(None);
        }
        let answer = self.get_json("/libpod/info").await?;
        Ok(Some(PodmanHost {
            rootless: answer
                .pointer("/host/security/rootless")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            cgroup_version: json_str(&answer, "/host/cgroupVersion"),
        }))
    }

    fn err(&self, e: BollardError) -> EngineError {
        map_error(e, &self.inner.endpoint)
    }

    /// Creates image `tag` (`repo[:tag]`, default tag `latest`) from a root filesystem
    /// tarball (`POST /images/create?fromSrc=-`). Returns the image id the engine reports,
    /// or `tag` when it reports none. The image has no `CMD`; containers name their command.
    pub async fn import_image(&self, rootfs_tar: Vec<u8>, tag: &str) -> EngineResult<String> {
        let rootfs = bytes::Bytes::from(rootfs_tar);
        let mut attempt = 1;
        loop {
            match self.import_once(rootfs.clone(), tag).await {
                // Podman 4 loses the race when two imports of the same layer overlap
                // ("layer not known"); the other import has finished by the next try.
                Err(EngineError::Api { message, .. })
                    if message.contains("layer not known") && attempt < IMPORT_ATTEMPTS =>
                {
                    tracing::debug!(tag, attempt, "image import raced another one: {message}");
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    async fn import_once(&self, rootfs: bytes::Bytes, tag: &str) -> EngineResult<String> {
        let docker = self.client().await?;
        // The whole reference goes in `repo` (the API allows a tag there): Podman's compat
        // import ignores the separate `tag` parameter and would tag the image `latest`.
        let options = CreateImageOptionsBuilder::default().from_src("-").repo(tag);
        let mut answers = docker.create_image(Some(options.build()), Some(bollard::body_full(rootfs)), None);
        let mut id = None;
        while let Some(answer) = answers.next().await {
            let info = answer.map_err(|e| self.err(e))?;
            if let Some(status) = info.status {
                if status.starts_with("sha256:") {
                    id = Some(status);
                }
            }
        }
        Ok(id.unwrap_or_else(|| tag.to_string()))
    }

    /// Removes image `tag` (forced, so stopped containers do not keep it). `NotFound` when it
    /// does not exist.
    pub async fn remove_image(&self, tag: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        docker
            .remove_image(tag, Some(options), None)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Creates a bridge network; returns its id. `Conflict` when the name is taken.
    pub async fn create_network(&self, name: &str) -> EngineResult<String> {
        let docker = self.client().await?;
        // Engines before API 1.44 accept duplicate names unless asked to check, and bollard's
        // model no longer has that flag: look first (a concurrent creator can still win).
        if self.network_exists(name).await? {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            ..Default::default()
        };
        let answer = docker.create_network(request).await.map_err(|e| self.err(e))?;
        Ok(answer.id)
    }

    /// Removes a network. `NotFound` when it does not exist.
    pub async fn remove_network(&self, name: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        docker.remove_network(name).await.map_err(|e| self.err(e))
    }
}

/// What a Podman service says of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodmanHost {
    pub rootless: bool,
    /// `v1` or `v2`.
    pub cgroup_version: String,
}

/// Asks the engine its version with the oldest supported API in the path, checks it, and
/// returns a client speaking `min(engine, bollard's newest)`.
async fn negotiate(endpoint: &Endpoint) -> EngineResult<(Docker, EngineInfo)> {
    let probe = endpoint
        .client(&MIN_API_VERSION)
        .map_err(|e| map_error(e, endpoint))?;
    let version = probe.version().await.map_err(|e| match e {
        // An engine older than 1.41 refuses the probe: "client version 1.41 is too new.
        // Maximum supported API version is 1.40".
        BollardError::DockerResponseServerError {
            status_code: 400,
            ref message,
        } if message.contains("too new") => EngineError::TooOld {
            found: message.rsplit(' ').next().unwrap_or("unknown").to_string(),
            minimum: MIN_API_VERSION.to_string(),
        },
        other => map_error(other, endpoint),
    })?;
    let found = version.api_version.clone().unwrap_or_default();
    let engine_api = parse_api_version(&found).ok_or_else(|| EngineError::Api {
        status: 0,
        message: format!(
            "the engine at {} reported an unreadable API version {found:?}",
            endpoint.describe()
        ),
    })?;
    if engine_api < MIN_API_VERSION {
        return Err(EngineError::TooOld {
            found,
            minimum: MIN_API_VERSION.to_string(),
        });
    }
    let speak = if engine_api < *API_DEFAULT_VERSION {
        engine_api
    } else {
        *API_DEFAULT_VERSION
    };
    let docker = endpoint.client(&speak).map_err(|e| map_error(e, endpoint))?;
    let info = engine_info(&version, &speak);
    Ok((docker, info))
}

fn parse_api_version(s: &str) -> Option<ClientVersion> {
    let (major, minor) = s.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

fn engine_info(version: &bollard::models::SystemVersion, speak: &ClientVersion) -> EngineInfo {
    let components = version.components.as_deref().unwrap_or_default();
    let platform_name = version
        .platform
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let platform = if let Some(podman) = components.iter().find(|c| c.name.contains("Podman")) {
        podman.name.clone()
    } else if !platform_name.trim().is_empty() {
        platform_name
    } else {
        "Docker Engine".to_string()
    };
    EngineInfo {
        api_version: speak.to_string(),
        engine_version: version.version.clone().unwrap_or_default(),
        platform,
    }
}

/// Maps bollard's errors onto berth's: 404/304/409 are answers, transport failures say which
/// address was tried.
fn map_error(e: BollardError, endpoint: &Endpoint) -> EngineError {
    match e {
        BollardError::DockerResponseServerError { status_code, message } => match status_code {
            404 => EngineError::NotFound(message),
            304 => EngineError::NotModified,
            409 => EngineError::Conflict(message),
            // Podman answers a taken container name with 500 (Docker: 409).
            500 if message.contains("is already in use") => EngineError::Conflict(message),
            status => EngineError::Api { status, message },
        },
        BollardError::SocketNotFoundError(path) => EngineError::Unreachable(format!(
            "no engine socket at {path} (tried {}); is Docker running? set DOCKER_HOST to another socket",
            endpoint.describe()
        )),
        BollardError::RequestTimeoutError => {
            EngineError::Unreachable(format!("{} did not answer in time", endpoint.describe()))
        }
        e @ (BollardError::HyperLegacyError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::IOError { .. }) => {
            EngineError::Unreachable(format!("{}: {}", endpoint.describe(), error_chain(&e)))
        }
        other => EngineError::Api {
            status: 0,
            message: error_chain(&other),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// `registry:5000/repo:tag` -> (`registry:5000/repo`, Some(`tag`)); digests stay in the repo.
fn split_image_ref(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    let last_segment_start = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_segment_start..].rfind(':') {
        Some(i) => {
            let at = last_segment_start + i;
            (image[..at].to_string(), Some(image[at + 1..].to_string()))
        }
        None => (image.to_string(), None),
    }
}

/// Converts the create body into bollard's model and refuses it when the model would drop
/// or change anything: the JSON berth planned is the JSON the engine gets.
pub fn create_body_model(body: &serde_json::Value) -> EngineResult<ContainerCreateBody> {
    if !body.is_object() {
        return Err(body_error(
            "the container create body must be a JSON object".to_string(),
        ));
    }
    let model: ContainerCreateBody = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        body_error(format!("create body field `{path}`: {}", e.inner()))
    })?;
    let back = serde_json::to_value(&model)
        .map_err(|e| body_error(format!("create body cannot be encoded: {e}")))?;
    if let Some(lost) = first_difference(body, &back, "") {
        return Err(body_error(lost));
    }
    Ok(model)
}

fn body_error(message: String) -> EngineError {
    EngineError::Api { status: 0, message }
}

/// The first place where `sent` differs from what `planned` asked for, as a message naming
/// the field. A `null` in the plan is the same as an absent key.
fn first_difference(planned: &serde_json::Value, sent: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (planned, sent) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                if value.is_null() {
                    continue;
                }
                match got.get(key) {
                    None => {
                        return Some(format!(
                            "create body field `{}` is not known to the engine client and would be dropped",
                            join(key)
                        ))
                    }
                    Some(got_value) => {
                        if let Some(diff) = first_difference(value, got_value, &join(key)) {
                            return Some(diff);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return Some(format!(
                    "create body field `{path}` has {} items but {} would be sent",
                    want.len(),
                    got.len()
                ));
            }
            want.iter()
                .zip(got)
                .enumerate()
                .find_map(|(i, (w, g))| first_difference(w, g, &format!("{path}[{i}]")))
        }
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => None,
        (want, got) if want == got => None,
        (want, got) => Some(format!(
            "create body field `{path}` would be sent as {got} instead of {want}"
        )),
    }
}

/// An image reference in Docker's short form: Podman reports short names fully qualified
/// (`docker.io/library/img:1`), Docker as they were given (`img:1`).
pub fn familiar_image_name(image: &str) -> String {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    short.to_string()
}

fn strip_slash(name: &str) -> String {
    name.strip_prefix('/').unwrap_or(name).to_string()
}

fn json_str(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn json_labels(v: Option<&serde_json::Value>) -> HashMap<String, String> {
    v.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The lifecycle's view of an inspect answer (Docker's or Podman's).
fn container_state(c: &serde_json::Value) -> ContainerState {
    let image = c
        .pointer("/Config/Image")
        .or_else(|| c.get("Image"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let time = |p: &str| real_time(Some(json_str(c, p)));
    ContainerState {
        id: json_str(c, "/Id"),
        name: strip_slash(&json_str(c, "/Name")),
        image: familiar_image_name(image),
        status: raw::engine_status(&json_str(c, "/State/Status")),
        exit_code: c.pointer("/State/ExitCode").and_then(serde_json::Value::as_i64),
        oom_killed: c
            .pointer("/State/OOMKilled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        started_at: time("/State/StartedAt"),
        finished_at: time("/State/FinishedAt"),
        labels: json_labels(c.pointer("/Config/Labels")),
    }
}

/// One row of a container list answer (Docker's or Podman's).
fn container_summary(row: &serde_json::Value) -> ContainerSummary {
    let name = row
        .get("Names")
        .and_then(serde_json::Value::as_array)
        .and_then(|names| names.first())
        .and_then(serde_json::Value::as_str)
        .map(strip_slash)
        .unwrap_or_default();
    ContainerSummary {
        id: json_str(row, "/Id"),
        name,
        image: familiar_image_name(&json_str(row, "/Image")),
        status: raw::engine_status(&json_str(row, "/State")),
        created: row
            .get("Created")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        labels: json_labels(row.get("Labels")),
    }
}

/// The engine's zero time means "never".
fn real_time(t: Option<String>) -> Option<String> {
    t.filter(|s| !s.is_empty() && !s.starts_with("0001-01-01"))
}

fn label_filter_values(filters: &[LabelFilter]) -> Vec<String> {
    filters
        .iter()
        .map(|f| match &f.value {
            Some(v) => format!("{}={}", f.key, v),
            None => f.key.clone(),
        })
        .collect()
}

/// Event attributes are the container's labels plus these keys the engine adds (the last
/// two are Podman's).
const EVENT_OWN_ATTRIBUTES: &[&str] = &["image", "name", "exitCode", "containerExitCode", "podId"];

/// The container event berth acts on, or `None` for another action. Podman names the
/// removal `remove` where Docker says `destroy`; both are [`ContainerEventKind::Destroy`].
/// Podman's `exitCode` attribute matches Docker's; its `containerExitCode` is on every event
/// (0 before the exit), so it is not read.
/// The actions [`ContainerRuntime::events`] yields.
const WATCHED_ACTIONS: &[&str] = &["start", "die", "oom", "destroy", "remove"];

fn container_event(message: EventMessage) -> Option<ContainerEvent> {
    let action = message.action?;
    if !WATCHED_ACTIONS.contains(&action.as_str()) {
        return None;
    }
    let actor = message.actor.unwrap_or_default();
    let id = actor.id?;
    let mut attributes = actor.attributes.unwrap_or_default();
    let exit_code = attributes
        .get("exitCode")
        .and_then(|c| c.trim().parse::<i64>().ok());
    for key in EVENT_OWN_ATTRIBUTES {
        attributes.remove(*key);
    }
    let kind = match action.as_str() {
        "start" => ContainerEventKind::Start,
        "die" => ContainerEventKind::Die { exit_code },
        "oom" => ContainerEventKind::Oom,
        "destroy" | "remove" => ContainerEventKind::Destroy,
        other => ContainerEventKind::Other(other.to_string()),
    };
    let time_nano = message
        .time_nano
        .or_else(|| message.time.map(|s| s.saturating_mul(1_000_000_000)))
        .unwrap_or(0);
    Some(ContainerEvent {
        id,
        kind,
        labels: attributes,
        time_nano,
    })
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    fn address(&self) -> String {
        self.endpoint()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        // Negotiate afresh each time: ping is how callers check the engine is (still) there.
        let (docker, info) = negotiate(&self.inner.endpoint).await?;
        docker.ping().await.map_err(|e| self.err(e))?;
        let _ = self.inner.client.set((docker, info.clone()));
        Ok(info)
    }

    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        let docker = self.client().await?;
        match docker.inspect_network(name, None).await {
            Ok(_) => Ok(true),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        let docker = self.client().await?;
        match docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        let (repo, tag) = split_image_ref(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(&repo)
            .tag(
                tag.as_deref()
                    .unwrap_or(if repo.contains('@') { "" } else { "latest" }),
            )
            .build();
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        platform: Option<&str>,
    ) -> EngineResult<String> {
        let (docker, info) = self.negotiated().await?;
        let model = create_body_model(&adapt_create_body(info, body)?)?;
        let mut options = CreateContainerOptionsBuilder::default().name(name);
        if let Some(p) = platform {
            options = options.platform(p);
        }
        let answer = docker
            .create_container(Some(options.build()), model)
            .await
            .map_err(|e| self.err(e))?;
        for warning in &answer.warnings {
            tracing::warn!(container = name, "engine warning on create: {warning}");
        }
        Ok(answer.id)
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        docker.start_container(id, None).await.map_err(|e| self.err(e))
    }

    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        let c = self.inspect_raw(id).await?;
        Ok(container_state(&c))
    }

    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()> {
        let docker = self.client().await?;
        // One request: bollard reads the engine's 304 (not running) as success, which is
        // what a caller that wants the container stopped needs.
        let t = i32::try_from(grace_secs).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(t).build();
        docker
            .stop_container(id, Some(options))
            .await
            .map_err(|e| self.err(e))
    }

    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        let docker = self.client().await?;
        // `v`: anonymous volumes go with the container, as `docker run --rm` does.
        let options = RemoveContainerOptionsBuilder::default()
            .force(force)
            .v(true)
            .build();
        docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| self.err(e))
    }

    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        let mut path = format!("/containers/json?all={all}");
        if !filters.is_empty() {
            let query = serde_json::json!({ "label": label_filter_values(filters) });
            path.push_str(&format!("&filters={}", raw::query_value(&query.to_string())));
        }
        let rows = self.get_json(&path).await?;
        let rows = rows.as_array().ok_or_else(|| EngineError::Api {
            status: 0,
            message: "the engine's container list is not a JSON array".to_string(),
        })?;
        Ok(rows.iter().map(container_summary).collect())
    }

    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        let this = self.clone();
        // The engine's filters only narrow the stream; the action and every label filter are
        // checked here. Podman 4 keeps only one value of a repeated `event` filter, matches a
        // label filter without a value to nothing and ORs several label filters, so berth asks
        // for every action of containers carrying any of the `key=value` labels.
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        query.insert("type".to_string(), vec!["container".to_string()]);
        let with_values: Vec<LabelFilter> = filters.iter().filter(|f| f.value.is_some()).cloned().collect();
        if !with_values.is_empty() {
            query.insert("label".to_string(), label_filter_values(&with_values));
        }
        let wanted = filters.to_vec();
        let opened = async move {
            let docker = this.client().await?.clone();
            let options = EventsOptionsBuilder::default().filters(&query).build();
            let events = docker
                .events(Some(options))
                .map_err(move |e| map_error(e, &this.inner.endpoint))
                .try_filter_map(move |message| {
                    let event =
                        container_event(message).filter(|e| wanted.iter().all(|f| f.matches(&e.labels)));
                    async move { Ok(event) }
                });
            Ok::<_, EngineError>(events)
        };
        stream::once(opened).try_flatten().boxed()
    }

    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        let this = self.clone();
        let id = id.to_string();
        let opened = async move {
            let docker = this.client().await?.clone();
            let options = LogsOptionsBuilder::default()
                .follow(follow)
                .stdout(true)
                .stderr(true)
                .tail("all")
                .build();
            let chunks = docker
                .logs(&id, Some(options))
                .map_err(move |e| map_error(e, &this.inner.endpoint))
                .try_filter_map(|output| async move {
                    use bollard::container::LogOutput;
                    Ok(match output {
                        LogOutput::StdOut { message } | LogOutput::Console { message } => Some(LogChunk {
                            stream: LogStream::Stdout,
                            bytes: message.to_vec(),
                        }),
                        LogOutput::StdErr { message } => Some(LogChunk {
                            stream: LogStream::Stderr,
                            bytes: message.to_vec(),
                        }),
                        LogOutput::StdIn { .. } => None,
                    })
                });
            Ok::<_, EngineError>(chunks)
        };
        stream::once(opened).try_flatten().boxed()
    }

    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        let docker = self.client().await?;
        let mut answers = docker.wait_container(id, None);
        match answers.next().await {
            Some(Ok(answer)) => Ok(answer.status_code),
            // bollard turns a non-zero status into an error; it is still the exit code.
            Some(Err(BollardError::DockerContainerWaitError { error, code })) => {
                if !error.is_empty() {
                    tracing::warn!(container = id, "engine reported while waiting: {error}");
                }
                Ok(code)
            }
            Some(Err(e)) => Err(self.err(e)),
            None => Err(EngineError::Api {
                status: 0,
                message: format!("the wait for container {id} ended without an exit status"),
            }),
        }
    }

    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        self.get_json(&format!("/containers/{}/json", raw::path_segment(id)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock").unwrap(),
            Endpoint::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("/x.sock").unwrap(),
            Endpoint::Unix("/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:2375").unwrap(),
            Endpoint::Http("tcp://10.0.0.1:2375".into())
        );
        let err = Endpoint::parse("ssh://host").unwrap_err();
        assert!(matches!(err, EngineError::Unreachable(m) if m.contains("ssh://host")));
    }

    #[test]
    fn image_refs_split() {
        assert_eq!(split_image_ref("a"), ("a".into(), None));
        assert_eq!(split_image_ref("a:1"), ("a".into(), Some("1".into())));
        assert_eq!(
            split_image_ref("reg:5000/ns/a:1"),
            ("reg:5000/ns/a".into(), Some("1".into()))
        );
        assert_eq!(split_image_ref("reg:5000/ns/a"), ("reg:5000/ns/a".into(), None));
        assert_eq!(split_image_ref("a@sha256:ab"), ("a@sha256:ab".into(), None));
    }

    #[test]
    fn api_versions_compare() {
        let v = parse_api_version("1.40").unwrap();
        assert!(v < MIN_API_VERSION);
        assert!(parse_api_version("1.41").unwrap() >= MIN_API_VERSION);
        assert!(parse_api_version("1.5").unwrap() < MIN_API_VERSION);
        assert!(parse_api_version("x").is_none());
    }

    fn launcher_like_body() -> serde_json::Value {
        json!({
            "Image": "img:1",
            "Cmd": ["/usr/local/bin/python", "-u", "-m", "m"],
            "Env": ["A=1"],
            "WorkingDir": "/var/tmp/nvflare/workspace/j",
            "User": "1000:1000",
            "Labels": {"org.berth.job": "j"},
            "HostConfig": {
                "AutoRemove": false,
                "NetworkMode": "net",
                "Mounts": [
                    {"Target": "/var/tmp/nvflare/workspace", "Source": null, "Type": "tmpfs",
                     "ReadOnly": false, "TmpfsOptions": {"Mode": 1023}},
                    {"Target": "/s", "Source": "/h/s", "Type": "bind", "ReadOnly": true}
                ],
                "Tmpfs": {"/var/tmp/nvflare/workspace": "uid=1000,gid=1000,mode=1777"},
                "ShmSize": 8589934592_i64,
                "DeviceRequests": [{"Driver": "", "Count": 1, "DeviceIDs": [],
                    "Capabilities": [["gpu"]], "Options": {}}],
                "NanoCpus": 2000000000_i64,
                "Memory": 1073741824_i64,
                "IpcMode": "host"
            },
            "NetworkingConfig": {"EndpointsConfig": {"net": {}}}
        })
    }

    #[test]
    fn a_launcher_body_passes_unchanged() {
        let model = create_body_model(&launcher_like_body()).unwrap();
        assert_eq!(model.image.as_deref(), Some("img:1"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let mut body = launcher_like_body();
        body["HostConfig"]["NoSuchThing"] = json!(1);
        let err = create_body_model(&body).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message } if message.contains("HostConfig.NoSuchThing")),
            "{err}"
        );
    }

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let mut body = launcher_like_body();
        body["HostConfig"]["Mounts"][0]["TmpfsOptions"]["Mode"] = json!("1777");
        let err = create_body_model(&body).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message }
                if message.contains("HostConfig.Mounts[0].TmpfsOptions.Mode")),
            "{err}"
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert!(matches!(
            create_body_model(&json!([1])),
            Err(EngineError::Api { status: 0, .. })
        ));
    }

    #[test]
    fn errors_map_to_answers() {
        let ep = Endpoint::Unix("/nowhere.sock".into());
        let server = |status_code| BollardError::DockerResponseServerError {
            status_code,
            message: "m".into(),
        };
        assert_eq!(map_error(server(404), &ep), EngineError::NotFound("m".into()));
        assert_eq!(map_error(server(304), &ep), EngineError::NotModified);
        assert_eq!(map_error(server(409), &ep), EngineError::Conflict("m".into()));
        assert_eq!(
            map_error(server(500), &ep),
            EngineError::Api {
                status: 500,
                message: "m".into()
            }
        );
        let e = map_error(BollardError::SocketNotFoundError("/nowhere.sock".into()), &ep);
        assert!(matches!(e, EngineError::Unreachable(m) if m.contains("/nowhere.sock")));
    }

    #[test]
    fn podman_events_read_like_docker_ones() {
        let event = |action: &str| -> Option<ContainerEvent> {
            container_event(
                serde_json::from_value(json!({
                    "Type": "container", "Action": action,
                    "Actor": {"ID": "abc", "Attributes": {"containerExitCode": "0", "exitCode": "3",
                        "podId": "", "image": "docker.io/library/i:1", "name": "n", "k": "v"}},
                    "time": 1, "timeNano": 5_i64
                }))
                .unwrap(),
            )
        };
        let die = event("die").unwrap();
        assert_eq!(die.kind, ContainerEventKind::Die { exit_code: Some(3) });
        assert_eq!(die.labels, HashMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(event("remove").unwrap().kind, ContainerEventKind::Destroy);
        for other in ["create", "init", "cleanup", "attach"] {
            assert_eq!(event(other), None, "{other}");
        }
    }

    #[test]
    fn podman_image_names_read_like_docker_ones() {
        assert_eq!(familiar_image_name("docker.io/library/img:1"), "img:1");
        assert_eq!(familiar_image_name("docker.io/team/img:1"), "team/img:1");
        assert_eq!(familiar_image_name("localhost/img:1"), "localhost/img:1");
        assert_eq!(familiar_image_name("reg:5000/a/img"), "reg:5000/a/img");
    }

    #[test]
    fn podman_name_conflicts_are_conflicts() {
        let ep = Endpoint::Unix("/p.sock".into());
        let taken = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "container create: creating container storage: the container name \"c\" is already in use by 3f2".into(),
        };
        assert!(matches!(map_error(taken, &ep), EngineError::Conflict(_)));
    }

    #[test]
    fn die_events_carry_exit_code_and_labels() {
        let message: EventMessage = serde_json::from_value(json!({
            "Type": "container", "Action": "die",
            "Actor": {"ID": "abc", "Attributes": {"exitCode": "3", "image": "i", "name": "n", "k": "v"}},
            "time": 1, "timeNano": 1000000001_i64
        }))
        .unwrap();
        let event = container_event(message).unwrap();
        assert_eq!(event.id, "abc");
        assert_eq!(event.kind, ContainerEventKind::Die { exit_code: Some(3) });
        assert_eq!(event.labels, HashMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(event.time_nano, 1000000001);
    }
}
