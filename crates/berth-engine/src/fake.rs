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

use crate::runtime::*;
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};

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

/// What `start` does to a container, scripted per container name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartBehavior {
    /// Reaches `running` (the default).
    Run,
    /// `start` succeeds but the container stays `created` for ever.
    StayCreated,
    /// The job ends at once with this exit code, before anyone sees it `running`.
    ExitImmediately(i64),
    /// Runs, then exits with `code` after `after` (needs a tokio runtime).
    ExitAfter { code: i64, after: Duration },
    /// `start` answers with this error and the container stays `created`.
    Fail(EngineError),
}

/// A container's life in the fake. `Removed` containers answer 404 everywhere but stay
/// visible to [`FakeRuntime::status`] so tests can tell "removed" from "never existed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeStatus {
    Created,
    Running,
    Exited,
    Dead,
    Removed,
}

impl FakeStatus {
    fn as_str(self) -> &'static str {
        match self {
            FakeStatus::Created => "created",
            FakeStatus::Running => "running",
            FakeStatus::Exited => "exited",
            FakeStatus::Dead => "dead",
            FakeStatus::Removed => "removing",
        }
    }

    fn is_stopped(self) -> bool {
        matches!(self, FakeStatus::Exited | FakeStatus::Dead)
    }
}

#[derive(Debug, Clone)]
struct FakeContainer {
    id: String,
    name: String,
    image: String,
    status: FakeStatus,
    exit_code: Option<i64>,
    oom_killed: bool,
    started_at: Option<String>,
    finished_at: Option<String>,
    labels: HashMap<String, String>,
    created: i64,
    logs: Vec<LogChunk>,
    /// The create body as received (`Null` for seeded containers).
    body: serde_json::Value,
}

impl FakeContainer {
    fn state(&self) -> ContainerState {
        ContainerState {
            id: self.id.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            status: self.status.as_str().to_string(),
            exit_code: self.exit_code,
            oom_killed: self.oom_killed,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            labels: self.labels.clone(),
        }
    }
}

struct Subscriber {
    filters: Vec<LabelFilter>,
    tx: mpsc::UnboundedSender<EngineResult<ContainerEvent>>,
}

#[derive(Default)]
struct State {
    containers: Vec<FakeContainer>,
    images: HashSet<String>,
    pullable: HashSet<String>,
    networks: HashSet<String>,
    unreachable: bool,
    /// Every request waits (accepted, never answered) while set.
    hung: bool,
    /// Every request is answered this late.
    latency: Duration,
    events_refused: bool,
    events_held: bool,
    held: VecDeque<ContainerEvent>,
    subscribers: Vec<Subscriber>,
    subscriptions_opened: usize,
    start_behavior: HashMap<String, StartBehavior>,
    stop_delay: Duration,
    remove_delay: Duration,
    remove_conflicts: HashMap<String, usize>,
    next_errors: HashMap<Method, VecDeque<EngineError>>,
    sticky_errors: HashMap<Method, EngineError>,
    requests: Vec<Request>,
    next_id: u64,
}

impl State {
    fn find(&self, id_or_name: &str) -> Option<usize> {
        let live = |c: &&FakeContainer| c.status != FakeStatus::Removed;
        self.containers
            .iter()
            .position(|c| live(&c) && (c.id == id_or_name || c.name == id_or_name))
            .or_else(|| {
                // Like the engine: a unique id prefix names a container too.
                let hits: Vec<usize> = self
                    .containers
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| live(c) && id_or_name.len() >= 4 && c.id.starts_with(id_or_name))
                    .map(|(i, _)| i)
                    .collect();
                (hits.len() == 1).then(|| hits[0])
            })
    }

    fn not_found(id: &str) -> EngineError {
        EngineError::NotFound(format!("No such container: {id}"))
    }

    fn emit(&mut self, idx: usize, kind: ContainerEventKind) {
        let c = &self.containers[idx];
        let event = ContainerEvent {
            id: c.id.clone(),
            kind,
            labels: c.labels.clone(),
            time_nano: now_nanos(),
        };
        if self.events_held {
            self.held.push_back(event);
        } else {
            self.deliver(event);
        }
    }

    fn deliver(&mut self, event: ContainerEvent) {
        self.subscribers.retain(|s| !s.tx.is_closed());
        for sub in &self.subscribers {
            if sub.filters.iter().all(|f| f.matches(&event.labels)) {
                let _ = sub.tx.send(Ok(event.clone()));
            }
        }
    }

    /// The main process ends: `exited` with `code` (or `dead`), and a die event.
    fn finish(&mut self, idx: usize, status: FakeStatus, code: Option<i64>) {
        let c = &mut self.containers[idx];
        c.status = status;
        c.exit_code = code;
        c.finished_at = Some(rfc3339_now());
        self.emit(idx, ContainerEventKind::Die { exit_code: code });
    }

    fn remove_at(&mut self, idx: usize) {
        if self.containers[idx].status == FakeStatus::Running {
            self.finish(idx, FakeStatus::Exited, Some(137));
        }
        self.containers[idx].status = FakeStatus::Removed;
        self.emit(idx, ContainerEventKind::Destroy);
    }
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

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A fixed-format UTC timestamp; the fake does not need calendar accuracy beyond seconds.
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

    /// The container's output so far, or "not found".
    fn logs_now(&self, id: &str) -> Vec<EngineResult<LogChunk>> {
        let s = self.lock();
        match s.find(id) {
            Some(i) => s.containers[i].logs.iter().cloned().map(Ok).collect(),
            None => vec![Err(State::not_found(id))],
        }
    }

    // ---- world setup -------------------------------------------------------------------

    pub fn add_network(&self, name: &str) {
        self.lock().networks.insert(name.to_string());
    }

    pub fn remove_network(&self, name: &str) {
        self.lock().networks.remove(name);
    }

    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(image.to_string());
    }

    pub fn remove_image(&self, image: &str) {
        self.lock().images.remove(image);
    }

    /// Make `pull_image(image)` succeed (it fails with 404 otherwise).
    pub fn make_pullable(&self, image: &str) {
        self.lock().pullable.insert(image.to_string());
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

    /// A container that exists before the test starts (a leftover of an earlier run).
    /// Returns its id.
    pub fn seed_container(
        &self,
        name: &str,
        image: &str,
        labels: HashMap<String, String>,
        status: FakeStatus,
        exit_code: Option<i64>,
    ) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("{:064x}", 0xfeed_0000_0000u64 + s.next_id);
        s.containers.push(FakeContainer {
            id: id.clone(),
            name: name.to_string(),
            image: image.to_string(),
            status,
            exit_code,
            oom_killed: false,
            started_at: None,
            finished_at: status.is_stopped().then(rfc3339_now),
            labels,
            created: 0,
            logs: Vec::new(),
            body: serde_json::Value::Null,
        });
        id
    }

    // ---- scripted behaviour ------------------------------------------------------------

    /// What `start` does for the container named `name` (created later or already).
    pub fn on_start(&self, name: &str, behavior: StartBehavior) {
        self.lock().start_behavior.insert(name.to_string(), behavior);
    }

    /// Every stop of a running container takes this long before it answers.
    pub fn set_stop_delay(&self, delay: Duration) {
        self.lock().stop_delay = delay;
    }

    /// Every `remove` takes this long before the container goes (a slow removal).
    pub fn set_remove_delay(&self, delay: Duration) {
        self.lock().remove_delay = delay;
    }

    /// The next `times` removals of `id_or_name` answer 409 "removal already in progress"
    /// (and the container is then removed, as the engine's own removal finishes).
    pub fn remove_conflicts(&self, id_or_name: &str, times: usize) {
        self.lock().remove_conflicts.insert(id_or_name.to_string(), times);
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

    /// The job in a running container ends with `code`: `exited`, and a die event.
    pub fn exit(&self, id_or_name: &str, code: i64) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) if !s.containers[i].status.is_stopped() => {
                    s.finish(i, FakeStatus::Exited, Some(code));
                    true
                }
                _ => false,
            }
        };
        self.touched();
        done
    }

    /// The kernel OOM-kills the job: an oom event, then `exited` 137 and a die event.
    pub fn oom_kill(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) if !s.containers[i].status.is_stopped() => {
                    s.containers[i].oom_killed = true;
                    s.emit(i, ContainerEventKind::Oom);
                    s.finish(i, FakeStatus::Exited, Some(137));
                    true
                }
                _ => false,
            }
        };
        self.touched();
        done
    }

    /// The container goes `dead` (the engine failed to stop or remove it).
    pub fn make_dead(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.finish(i, FakeStatus::Dead, None);
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// Someone else (`docker rm -f`) removes the container: die (if running) and destroy
    /// events are emitted as the engine would.
    pub fn remove_behind_back(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.remove_at(i);
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// The container disappears without a trace: no event at all.
    pub fn vanish_silently(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.containers[i].status = FakeStatus::Removed;
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// Set the output `logs` returns for a container.
    pub fn set_logs(&self, id_or_name: &str, chunks: Vec<LogChunk>) {
        let mut s = self.lock();
        if let Some(i) = s.find(id_or_name) {
            s.containers[i].logs = chunks;
        }
    }

    // ---- events ------------------------------------------------------------------------

    /// End every open event stream with an error, as a dropped connection does.
    pub fn cut_events(&self) {
        let mut s = self.lock();
        for sub in s.subscribers.drain(..) {
            let _ = sub.tx.send(Err(EngineError::Unreachable(
                "event stream connection reset".into(),
            )));
        }
    }

    /// While refused, a new subscription ends at once with an error.
    pub fn refuse_events(&self, refused: bool) {
        self.lock().events_refused = refused;
    }

    /// While held, events are queued instead of delivered (an event pipeline that lags).
    pub fn hold_events(&self, held: bool) {
        self.lock().events_held = held;
    }

    /// Deliver every held event, in order, and stop holding.
    pub fn release_events(&self) {
        let mut s = self.lock();
        s.events_held = false;
        while let Some(e) = s.held.pop_front() {
            s.deliver(e);
        }
    }

    /// Forget every held event, as if the engine never sent them.
    pub fn drop_held_events(&self) {
        self.lock().held.clear();
    }

    /// Send an arbitrary event about a container (live or removed), e.g. a die event
    /// without an exit code, or one that arrives before the state changes.
    pub fn inject_event(&self, id_or_name: &str, kind: ContainerEventKind) -> bool {
        let mut s = self.lock();
        let idx = s
            .find(id_or_name)
            .or_else(|| s.containers.iter().rposition(|c| c.id == id_or_name));
        match idx {
            Some(i) => {
                s.emit(i, kind);
                true
            }
            None => false,
        }
    }

    /// How many event subscriptions were ever opened.
    pub fn subscriptions_opened(&self) -> usize {
        self.lock().subscriptions_opened
    }

    /// How many event subscriptions are open now.
    pub fn active_subscriptions(&self) -> usize {
        let mut s = self.lock();
        s.subscribers.retain(|sub| !sub.tx.is_closed());
        s.subscribers.len()
    }

    // ---- observation -------------------------------------------------------------------

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

    /// The container's status, `Removed` included; `None` if it never existed.
    pub fn status(&self, id_or_name: &str) -> Option<FakeStatus> {
        let s = self.lock();
        s.find(id_or_name).map(|i| s.containers[i].status).or_else(|| {
            s.containers
                .iter()
                .rev()
                .find(|c| c.id == id_or_name || c.name == id_or_name)
                .map(|c| c.status)
        })
    }

    /// Containers that are not removed.
    pub fn live_containers(&self) -> Vec<ContainerState> {
        self.lock()
            .containers
            .iter()
            .filter(|c| c.status != FakeStatus::Removed)
            .map(FakeContainer::state)
            .collect()
    }

    /// The id of the live container named `name`.
    pub fn id_of(&self, name: &str) -> Option<String> {
        let s = self.lock();
        s.find(name).map(|i| s.containers[i].id.clone())
    }

    fn spawn_exit_after(&self, id: String, code: i64, after: Duration) {
        let fake = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(after).await;
                    fake.exit(&id, code);
                });
            }
            Err(_) => tracing::warn!("fake engine: no tokio runtime to schedule the exit of {id}"),
        }
    }
}

fn label_map(body: &serde_json::Value) -> HashMap<String, String> {
    body.get("Labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The inspect answer a real engine would give for what was created: the create body's
/// top-level fields become `Config`, its `HostConfig` is kept, and `Mounts` lists the
/// bind mounts as the engine reports them (`Destination`, `RW`).
fn raw_inspect(c: &FakeContainer) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut config = serde_json::Map::new();
    let mut host_config = json!({});
    if let Value::Object(body) = &c.body {
        for (k, v) in body {
            match k.as_str() {
                "HostConfig" => host_config = v.clone(),
                "NetworkingConfig" => {}
                _ => {
                    config.insert(k.clone(), v.clone());
                }
            }
        }
    }
    config.insert("Image".into(), json!(c.image));
    config.insert("Labels".into(), json!(c.labels));
    let mounts: Vec<Value> = host_config
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter(|m| m.get("Type").and_then(Value::as_str) == Some("bind"))
                .map(|m| {
                    json!({
                        "Type": "bind",
                        "Source": m.get("Source").cloned().unwrap_or(Value::Null),
                        "Destination": m.get("Target").cloned().unwrap_or(Value::Null),
                        "Mode": "",
                        "RW": !m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false),
                        "Propagation": "rprivate",
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (path, args) = match config.get("Cmd").and_then(Value::as_array) {
        Some(cmd) if !cmd.is_empty() => (cmd[0].clone(), Value::Array(cmd[1..].to_vec())),
        _ => (json!(""), json!([])),
    };
    json!({
        "Id": c.id,
        "Name": format!("/{}", c.name),
        "Image": c.image,
        "Path": path,
        "Args": args,
        "State": {
            "Status": c.status.as_str(),
            "Running": c.status == FakeStatus::Running,
            "OOMKilled": c.oom_killed,
            "ExitCode": c.exit_code.unwrap_or(0),
        },
        "Config": Value::Object(config),
        "HostConfig": host_config,
        "Mounts": mounts,
    })
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    fn address(&self) -> String {
        "the fake engine".to_string()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        self.enter(Method::Ping, "").await?;
        Ok(EngineInfo {
            api_version: "1.41".into(),
            engine_version: "20.10.24-fake".into(),
            platform: "Fake Engine".into(),
        })
    }

    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        self.enter(Method::NetworkExists, name).await?;
        Ok(self.lock().networks.contains(name))
    }

    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        self.enter(Method::ImageExists, image).await?;
        Ok(self.lock().images.contains(image))
    }

    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        self.enter(Method::PullImage, image).await?;
        let mut s = self.lock();
        if s.pullable.contains(image) {
            s.images.insert(image.to_string());
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "pull access denied for {image}, repository does not exist"
            )))
        }
    }

    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        _platform: Option<&str>,
    ) -> EngineResult<String> {
        self.enter(Method::Create, name).await?;
        let image = body
            .get("Image")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let mut s = self.lock();
        if !s.images.contains(&image) {
            return Err(EngineError::NotFound(format!("No such image: {image}")));
        }
        if s.find(name).is_some() {
            return Err(EngineError::Conflict(format!(
                "The container name \"/{name}\" is already in use"
            )));
        }
        s.next_id += 1;
        let id = format!("{:064x}", 0xc0de_0000_0000u64 + s.next_id);
        let created = now_nanos() / 1_000_000_000;
        s.containers.push(FakeContainer {
            id: id.clone(),
            name: name.to_string(),
            image,
            status: FakeStatus::Created,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            labels: label_map(body),
            created,
            logs: Vec::new(),
            body: body.clone(),
        });
        let idx = s.containers.len() - 1;
        s.emit(idx, ContainerEventKind::Other("create".into()));
        Ok(id)
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        self.enter(Method::Start, id).await?;
        let mut exit_later = None;
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            match s.containers[i].status {
                FakeStatus::Running => return Err(EngineError::NotModified),
                FakeStatus::Created | FakeStatus::Exited | FakeStatus::Dead => {}
                FakeStatus::Removed => return Err(State::not_found(id)),
            }
            let behavior = s
                .start_behavior
                .get(&s.containers[i].name)
                .cloned()
                .unwrap_or(StartBehavior::Run);
            match behavior {
                StartBehavior::StayCreated => {}
                StartBehavior::Fail(err) => return Err(err),
                StartBehavior::Run | StartBehavior::ExitAfter { .. } | StartBehavior::ExitImmediately(_) => {
                    let c = &mut s.containers[i];
                    c.status = FakeStatus::Running;
                    c.started_at = Some(rfc3339_now());
                    c.exit_code = None;
                    c.finished_at = None;
                    s.emit(i, ContainerEventKind::Start);
                    match behavior {
                        StartBehavior::ExitImmediately(code) => s.finish(i, FakeStatus::Exited, Some(code)),
                        StartBehavior::ExitAfter { code, after } => {
                            exit_later = Some((s.containers[i].id.clone(), code, after))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some((cid, code, after)) = exit_later {
            self.spawn_exit_after(cid, code, after);
        }
        self.touched();
        Ok(())
    }

    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        self.enter(Method::Inspect, id).await?;
        let s = self.lock();
        s.find(id)
            .map(|i| s.containers[i].state())
            .ok_or_else(|| State::not_found(id))
    }

    async fn stop(&self, id: &str, _grace_secs: u32) -> EngineResult<()> {
        self.enter(Method::Stop, id).await?;
        let delay = {
            let s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            if s.containers[i].status != FakeStatus::Running {
                return Err(EngineError::NotModified);
            }
            s.stop_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            if s.containers[i].status == FakeStatus::Running {
                // Killed by SIGKILL: 128 + 9.
                s.finish(i, FakeStatus::Exited, Some(137));
            }
        }
        self.touched();
        Ok(())
    }

    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        self.enter(Method::Remove, id).await?;
        let delay = self.lock().remove_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            let (cid, cname) = (s.containers[i].id.clone(), s.containers[i].name.clone());
            for key in [id.to_string(), cid, cname] {
                if let Some(left) = s.remove_conflicts.get_mut(&key) {
                    if *left > 0 {
                        *left -= 1;
                        if *left == 0 {
                            // The removal that was "in progress" completes.
                            s.remove_at(i);
                        }
                        return Err(EngineError::Conflict(format!(
                            "removal of container {id} is already in progress"
                        )));
                    }
                }
            }
            if s.containers[i].status == FakeStatus::Running && !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container {id}: container is running: stop the container before \
                     removing or force remove"
                )));
            }
            s.remove_at(i);
        }
        self.touched();
        Ok(())
    }

    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        self.enter(Method::List, "").await?;
        let s = self.lock();
        Ok(s.containers
            .iter()
            .filter(|c| c.status != FakeStatus::Removed)
            .filter(|c| all || c.status == FakeStatus::Running)
            .filter(|c| filters.iter().all(|f| f.matches(&c.labels)))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                image: c.image.clone(),
                status: c.status.as_str().to_string(),
                created: c.created,
                labels: c.labels.clone(),
            })
            .collect())
    }

    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        if let Err(e) = self.begin(Method::Events, "") {
            return stream::once(async move { Err(e) }).boxed();
        }
        let mut s = self.lock();
        if s.events_refused {
            return stream::once(async { Err(EngineError::Unreachable("event stream refused".into())) })
                .boxed();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        s.subscriptions_opened += 1;
        s.subscribers.push(Subscriber {
            filters: filters.to_vec(),
            tx,
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }

    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        if let Err(e) = self.begin(Method::Logs, id) {
            return stream::once(async move { Err(e) }).boxed();
        }
        if !follow {
            return stream::iter(self.logs_now(id)).boxed();
        }
        // Following goes on only while the container runs, as the engine's does.
        let this = self.clone();
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

    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        self.enter(Method::InspectRaw, id).await?;
        let s = self.lock();
        s.find(id)
            .map(|i| raw_inspect(&s.containers[i]))
            .ok_or_else(|| State::not_found(id))
    }

    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        self.enter(Method::WaitExit, id).await?;
        loop {
            let notified = self.changed.notified();
            {
                let s = self.lock();
                let i = s.find(id).ok_or_else(|| State::not_found(id))?;
                let c = &s.containers[i];
                if c.status.is_stopped() {
                    return Ok(c.exit_code.unwrap_or(-1));
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(image: &str, site: &str) -> serde_json::Value {
        serde_json::json!({"Image": image, "Labels": {"io.berth.managed": "true", "io.berth.site": site}})
    }

    #[tokio::test]
    async fn create_start_exit_and_remove() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c1", &body("img", "s"), None).await.unwrap();
        assert_eq!(fake.inspect("c1").await.unwrap().status, "created");
        fake.start(&id).await.unwrap();
        assert_eq!(fake.inspect(&id).await.unwrap().status, "running");
        assert_eq!(fake.start(&id).await, Err(EngineError::NotModified));
        assert!(fake.exit(&id, 3));
        let st = fake.inspect(&id).await.unwrap();
        assert_eq!((st.status.as_str(), st.exit_code), ("exited", Some(3)));
        assert_eq!(fake.stop(&id, 0).await, Err(EngineError::NotModified));
        fake.remove(&id, true).await.unwrap();
        assert!(fake.inspect(&id).await.unwrap_err().is_not_found());
        assert!(fake.remove(&id, true).await.unwrap_err().is_not_found());
        assert_eq!(fake.status(&id), Some(FakeStatus::Removed));
        assert_eq!(fake.count(Method::Inspect), 4);
    }

    #[tokio::test]
    async fn missing_image_and_name_conflict() {
        let fake = FakeRuntime::with("net", "img");
        assert!(fake
            .create("c", &body("other", "s"), None)
            .await
            .unwrap_err()
            .is_not_found());
        fake.create("c", &body("img", "s"), None).await.unwrap();
        assert!(matches!(
            fake.create("c", &body("img", "s"), None).await,
            Err(EngineError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn events_are_filtered_by_label_and_can_be_cut() {
        let fake = FakeRuntime::with("net", "img");
        let mut mine = fake.events(&[LabelFilter::eq("io.berth.site", "a")]);
        let id_a = fake.create("a", &body("img", "a"), None).await.unwrap();
        let _id_b = fake.create("b", &body("img", "b"), None).await.unwrap();
        fake.start(&id_a).await.unwrap();
        fake.exit(&id_a, 0);
        let kinds: Vec<_> = [mine.next().await, mine.next().await, mine.next().await]
            .into_iter()
            .map(|e| e.unwrap().unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ContainerEventKind::Other("create".into()),
                ContainerEventKind::Start,
                ContainerEventKind::Die { exit_code: Some(0) }
            ]
        );
        fake.cut_events();
        assert!(mine.next().await.unwrap().is_err());
        assert!(mine.next().await.is_none());
        assert_eq!(fake.subscriptions_opened(), 1);
        assert_eq!(fake.active_subscriptions(), 0);
    }

    #[tokio::test]
    async fn remove_conflict_then_gone() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c", &body("img", "s"), None).await.unwrap();
        fake.remove_conflicts(&id, 1);
        assert!(matches!(
            fake.remove(&id, true).await,
            Err(EngineError::Conflict(_))
        ));
        assert!(fake.remove(&id, true).await.unwrap_err().is_not_found());
    }

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

    #[tokio::test]
    async fn wait_exit_returns_the_code() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c", &body("img", "s"), None).await.unwrap();
        fake.on_start(
            "c",
            StartBehavior::ExitAfter {
                code: 4,
                after: Duration::from_millis(10),
            },
        );
        fake.start(&id).await.unwrap();
        assert_eq!(fake.wait_exit(&id).await, Ok(4));
    }

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
