//! [`DeadlineRuntime`]: one deadline on every engine request (DESIGN decision 13).
//!
//! The launcher wraps whatever runtime it is given in this one, so no request of the
//! lifecycle, the CLI or the Python package can wait on an engine that accepted a
//! connection and never answers. A request that runs out of time is
//! [`EngineError::Unreachable`] with a message that names the engine's address and the
//! deadline: "cannot reach the engine" is never "the container is gone".
//!
//! What is bounded and how:
//! - every single request: the deadline;
//! - `stop`: the deadline plus the grace period (the engine waits that long on purpose);
//! - `events`: the engine is pinged within the deadline before the stream is opened, so a
//!   hung engine is an error at once rather than a silent stream; the open stream itself
//!   has no deadline (no event may come for hours);
//! - `logs` with `follow`: the first answer (a chunk, the end, an error) within the
//!   deadline, or else a ping within the deadline; after either, no deadline (a job may be
//!   quiet for hours). A followed log that answers at once, as one beside a stop does,
//!   costs no request beyond its own;
//! - `logs` without `follow`: each chunk must arrive within the deadline;
//! - `pull_image` and `wait_exit` are not bounded: a pull of a large image and a wait for a
//!   container's end take as long as they take. The launcher uses neither on a path that
//!   must answer (a pull happens only when the site allows it).
//!
//! The wrapper also notices outages: the first request that cannot reach the engine logs a
//! warning, the first one that gets an answer again logs that the engine is back. Each
//! once per outage, however many requests fail meanwhile.

use crate::runtime::{
    ContainerEvent, ContainerRuntime, ContainerState, ContainerSummary, EngineError, EngineInfo,
    EngineResult, LabelFilter, LogChunk,
};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The default deadline of one engine request (the site arg `engine_timeout`).
pub const DEFAULT_ENGINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`ContainerRuntime`] whose every request has a deadline. Cheap to clone.
#[derive(Clone)]
pub struct DeadlineRuntime {
    inner: Arc<dyn ContainerRuntime>,
    deadline: Duration,
    state: Arc<OutageState>,
}

struct OutageState {
    address: String,
    /// Whether the last request that ended could not reach the engine.
    out: AtomicBool,
}

impl std::fmt::Debug for DeadlineRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineRuntime")
            .field("address", &self.state.address)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl DeadlineRuntime {
    /// Wraps `inner`; every request gets `deadline` (a zero deadline is taken as 1 ms, so
    /// a request is still tried).
    pub fn new(inner: Arc<dyn ContainerRuntime>, deadline: Duration) -> Self {
        let address = inner.address();
        Self {
            inner,
            deadline: deadline.max(Duration::from_millis(1)),
            state: Arc::new(OutageState {
                address,
                out: AtomicBool::new(false),
            }),
        }
    }

    /// The deadline of one request.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Whether the engine could not be reached by the last request that ended.
    pub fn in_outage(&self) -> bool {
        self.state.out.load(Ordering::SeqCst)
    }

    /// An engine request outside the [`ContainerRuntime`] trait (one of the Docker runtime's
    /// own calls: the engine's details, an image import) under the same deadline; `what`
    /// names it in the message of a timeout ("the import of image 'x'").
    pub async fn within<T>(
        &self,
        what: &str,
        request: impl Future<Output = EngineResult<T>>,
    ) -> EngineResult<T> {
        self.bounded(what, self.deadline, request).await
    }

    async fn bounded<T>(
        &self,
        what: &str,
        limit: Duration,
        request: impl Future<Output = EngineResult<T>>,
    ) -> EngineResult<T> {
        let answer = match tokio::time::timeout(limit, request).await {
            Ok(answer) => answer,
            Err(_) => Err(self.state.timed_out(what, limit)),
        };
        self.state.observe(&answer);
        answer
    }
}

impl OutageState {
    fn timed_out(&self, what: &str, limit: Duration) -> EngineError {
        EngineError::Unreachable(format!(
            "the engine at {} did not answer {what} within {} (site arg engine_timeout)",
            self.address,
            human(limit)
        ))
    }

    /// Log the start and the end of an outage, once each.
    fn observe<T>(&self, answer: &EngineResult<T>) {
        match answer {
            Err(e @ EngineError::Unreachable(_)) => {
                if !self.out.swap(true, Ordering::SeqCst) {
                    tracing::warn!(engine = %self.address,
                        "engine outage: {e}; running jobs are still followed and nothing is recorded until it answers");
                }
            }
            // Any answer, an error answer included, means the engine is there.
            _ => {
                if self.out.swap(false, Ordering::SeqCst) {
                    tracing::info!(engine = %self.address, "engine answers again");
                }
            }
        }
    }
}

/// `30s`, `1.5s`, `250ms`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `stream` after a ping within the deadline; the ping's failure is the stream's only item.
fn after_ping<T: Send + 'static>(
    rt: DeadlineRuntime,
    open: impl FnOnce() -> BoxStream<'static, EngineResult<T>> + Send + 'static,
) -> BoxStream<'static, EngineResult<T>> {
    stream::once(async move {
        match rt.bounded("a ping", rt.deadline, rt.inner.ping()).await {
            Ok(_) => open(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    })
    .flatten()
    .boxed()
}

/// `stream` as is once it has answered within the deadline or, when it is still silent
/// then, once a ping within the deadline has shown the engine is there; the ping's failure
/// is the stream's last item.
fn answered_or_pinged<T: Send + 'static>(
    rt: DeadlineRuntime,
    stream: BoxStream<'static, EngineResult<T>>,
) -> BoxStream<'static, EngineResult<T>> {
    let first = async move {
        let mut stream = stream;
        let head = match tokio::time::timeout(rt.deadline, stream.next()).await {
            Ok(first) => first,
            Err(_) => match rt.bounded("a ping", rt.deadline, rt.inner.ping()).await {
                Ok(_) => stream.next().await,
                Err(e) => return stream::once(async move { Err(e) }).boxed(),
            },
        };
        if let Some(item) = &head {
            rt.state.observe(item);
        }
        match head {
            Some(item) => stream::once(async move { item }).chain(stream).boxed(),
            None => stream::empty().boxed(),
        }
    };
    stream::once(first).flatten().boxed()
}

#[async_trait]
impl ContainerRuntime for DeadlineRuntime {
    fn address(&self) -> String {
        self.state.address.clone()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        self.bounded("a ping", self.deadline, self.inner.ping()).await
    }

    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        let what = format!("the inspect of network '{name}'");
        self.bounded(&what, self.deadline, self.inner.network_exists(name))
            .await
    }

    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        let what = format!("the inspect of image '{image}'");
        self.bounded(&what, self.deadline, self.inner.image_exists(image))
            .await
    }

    /// Not bounded: see the module docs.
    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        let answer = self.inner.pull_image(image).await;
        self.state.observe(&answer);
        answer
    }

    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        platform: Option<&str>,
    ) -> EngineResult<String> {
        let what = format!("the create of container '{name}'");
        self.bounded(&what, self.deadline, self.inner.create(name, body, platform))
            .await
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        let what = format!("the start of container {}", short(id));
        self.bounded(&what, self.deadline, self.inner.start(id)).await
    }

    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        let what = format!("the inspect of container {}", short(id));
        self.bounded(&what, self.deadline, self.inner.inspect(id)).await
    }

    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()> {
        let what = format!("the stop of container {}", short(id));
        let limit = self
            .deadline
            .saturating_add(Duration::from_secs(u64::from(grace_secs)));
        self.bounded(&what, limit, self.inner.stop(id, grace_secs)).await
    }

    async fn kill(&self, id: &str) -> EngineResult<()> {
        let what = format!("the kill of container {}", short(id));
        self.bounded(&what, self.deadline, self.inner.kill(id)).await
    }

    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        let what = format!("the removal of container {}", short(id));
        self.bounded(&what, self.deadline, self.inner.remove(id, force))
            .await
    }

    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        self.bounded(
            "a container listing",
            self.deadline,
            self.inner.list(filters, all),
        )
        .await
    }

    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        let inner = self.inner.clone();
        let filters = filters.to_vec();
        after_ping(self.clone(), move || inner.events(&filters))
    }

    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        let inner = self.inner.clone();
        let id = id.to_string();
        if follow {
            return answered_or_pinged(self.clone(), inner.logs(&id, true));
        }
        // Each chunk within the deadline; the first error ends the stream.
        let rt = self.clone();
        let what = format!("the logs of container {}", short(&id));
        let chunks = inner.logs(&id, false);
        stream::unfold(Some(chunks), move |chunks| {
            let (rt, what) = (rt.clone(), what.clone());
            async move {
                let mut chunks = chunks?;
                let next = async { chunks.next().await.transpose() };
                match rt.bounded(&what, rt.deadline, next).await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(chunks))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
        .boxed()
    }

    /// Not bounded: see the module docs.
    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        self.inner.wait_exit(id).await
    }

    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        let what = format!("the inspect of container {}", short(id));
        self.bounded(&what, self.deadline, self.inner.inspect_raw(id))
            .await
    }
}

/// A container id as people read it (12 characters); names are kept whole.
fn short(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeRuntime;
    use std::time::Instant;

    fn wrapped(fake: &FakeRuntime, deadline: Duration) -> DeadlineRuntime {
        DeadlineRuntime::new(Arc::new(fake.clone()), deadline)
    }

    #[tokio::test]
    async fn a_hung_engine_is_an_error_naming_address_and_deadline() {
        let fake = FakeRuntime::with("net", "img");
        fake.set_hung(true);
        let rt = wrapped(&fake, Duration::from_millis(150));
        let t = Instant::now();
        let err = rt.ping().await.unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "ping took {:?}",
            t.elapsed()
        );
        let EngineError::Unreachable(msg) = &err else {
            panic!("expected Unreachable, got {err:?}")
        };
        assert!(msg.contains("fake engine"), "{msg}");
        assert!(msg.contains("150ms"), "{msg}");
        assert!(msg.contains("engine_timeout"), "{msg}");
        let err = rt.inspect("c1").await.unwrap_err();
        assert!(err.to_string().contains("the inspect of container c1"), "{err}");
        assert!(rt.in_outage());
        fake.set_hung(false);
        assert!(rt.ping().await.is_ok());
        assert!(!rt.in_outage());
    }

    #[tokio::test]
    async fn stop_gets_its_grace_period_on_top() {
        let fake = FakeRuntime::with("net", "img");
        fake.set_stop_delay(Duration::from_millis(300));
        let id = fake.seed_container(
            "c",
            "img",
            Default::default(),
            crate::fake::FakeStatus::Running,
            None,
        );
        let rt = wrapped(&fake, Duration::from_millis(100));
        // 300 ms of stop with 100 ms of deadline, but a grace of 1 s: within the limit.
        rt.stop(&id, 1).await.unwrap();
    }

    #[tokio::test]
    async fn an_event_stream_of_a_hung_engine_fails_instead_of_waiting() {
        let fake = FakeRuntime::with("net", "img");
        fake.set_hung(true);
        let rt = wrapped(&fake, Duration::from_millis(100));
        let first = rt.events(&[]).next().await;
        assert!(
            matches!(first, Some(Err(EngineError::Unreachable(_)))),
            "{first:?}"
        );
        let first = rt.logs("c", true).next().await;
        assert!(
            matches!(first, Some(Err(EngineError::Unreachable(_)))),
            "{first:?}"
        );
    }

    /// A fake engine holding one container, `c`, in `status`.
    fn seeded(status: crate::fake::FakeStatus, exit_code: Option<i64>) -> (FakeRuntime, String) {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.seed_container("c", "img", Default::default(), status, exit_code);
        (fake, id)
    }

    fn chunk(text: &str) -> crate::LogChunk {
        crate::LogChunk {
            stream: crate::LogStream::Stdout,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn a_followed_log_that_answers_at_once_costs_no_ping() {
        let (fake, id) = seeded(crate::fake::FakeStatus::Exited, Some(0));
        fake.set_logs(&id, vec![chunk("one\n"), chunk("two\n")]);
        let rt = wrapped(&fake, Duration::from_secs(5));
        let got: Vec<_> = rt.logs(&id, true).collect().await;
        let texts: Vec<_> = got.into_iter().map(|c| c.unwrap().bytes).collect();
        assert_eq!(texts, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
        assert_eq!(fake.count(crate::fake::Method::Ping), 0);
        assert_eq!(fake.count(crate::fake::Method::Logs), 1);
    }

    #[tokio::test]
    async fn a_quiet_followed_log_goes_on_once_a_ping_shows_the_engine_is_there() {
        let (fake, id) = seeded(crate::fake::FakeStatus::Running, None);
        fake.set_logs(&id, vec![chunk("late\n")]);
        let rt = wrapped(&fake, Duration::from_millis(100));
        let follow = tokio::spawn({
            let rt = rt.clone();
            let id = id.clone();
            async move { rt.logs(&id, true).collect::<Vec<_>>().await }
        });
        // Silent for three deadlines, then the job ends.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!follow.is_finished(), "a quiet job's log must not end");
        assert_eq!(fake.count(crate::fake::Method::Ping), 1);
        assert!(fake.exit(&id, 0));
        let got = follow.await.unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().bytes, b"late\n".to_vec());
    }

    #[tokio::test]
    async fn answers_pass_through_unchanged() {
        let fake = FakeRuntime::with("net", "img");
        let rt = wrapped(&fake, Duration::from_secs(5));
        assert_eq!(rt.address(), fake.address());
        assert!(rt.network_exists("net").await.unwrap());
        assert!(!rt.image_exists("other").await.unwrap());
        assert!(rt.inspect("missing").await.unwrap_err().is_not_found());
        assert_eq!(rt.logs("missing", false).collect::<Vec<_>>().await.len(), 1);
        assert!(!rt.in_outage(), "a 404 is an answer");
    }

    #[test]
    fn deadlines_read_well() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
    }
}
