//! The test harness of the suites that need a container engine (`harness = false`).
//!
//! Stable libtest cannot mark a test ignored once it runs, so a test that found no engine
//! and returned early read `ok`. These suites list their tests in [`test_main!`] instead;
//! this harness ([`libtest_mimic`], the same output, filters and flags as libtest) runs
//! them and reports each test that cannot run here as `ignored (<reason>)`.
//!
//! What a test needs is read from its signature:
//! - `fn name()` / `async fn name()`: needs nothing, always runs.
//! - `fn name(rt: DockerRuntime)` / `async fn name(rt: DockerRuntime)`: needs the engine
//!   from `DOCKER_HOST` (or the local socket). Whether it answers is checked once per
//!   binary, when the first such test starts; each test then gets a client of its own.
//! - Either kind may return `Result<(), Unavailable>` instead of `()`, for a test that
//!   learns only while it runs that it cannot run here (a daemon of its own that cannot
//!   start).
//!
//! A test that cannot run is `ignored` with its reason, unless `BERTH_REQUIRE_DOCKER=1`
//! (CI): then it fails with that reason. An async test runs on a multi-thread tokio runtime
//! with two workers, its own.

use crate::engine::REQUIRE_ENV;
use berth_engine::docker::DockerRuntime;
use berth_engine::ContainerRuntime;
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::future::Future;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

/// How long the engine check waits for the engine's answer.
const PING_DEADLINE: Duration = Duration::from_secs(10);

/// Why a test cannot run on this machine (not a failure of what it tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// `main` of a suite: one entry per test function, in any order; an entry may carry
/// `#[cfg(...)]` like the function it names.
///
/// ```text
/// berth_testkit::test_main!(
///     ping_reports_a_supported_version,
///     #[cfg(feature = "demo")]
///     demo_runs,
/// );
/// ```
#[macro_export]
macro_rules! test_main {
    ($($(#[$attr:meta])* $test:ident),+ $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            let mut trials = ::std::vec::Vec::new();
            $(
                $(#[$attr])*
                trials.push($crate::harness::trial(stringify!($test), $test));
            )+
            $crate::harness::run(trials)
        }
    };
}

/// Runs `trials` as libtest would, sorted by name, with the command line's filters and
/// flags (`NAME`, `--exact`, `--skip`, `--ignored`, `--include-ignored`, `--test-threads`,
/// `--list`, ...).
pub fn run(mut trials: Vec<Trial>) -> ExitCode {
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// The trial for test function `test`; see the module docs for the signatures it takes.
pub fn trial<M>(name: &str, test: impl IntoTrial<M>) -> Trial {
    let run = test.into_run();
    Trial::ignorable_test(name, move || match run() {
        Ok(()) => Ok(Completion::Completed),
        Err(Unavailable(why)) if required() => Err(Failed::from(format!(
            "{REQUIRE_ENV}=1 but this test cannot run here: {why}"
        ))),
        Err(Unavailable(why)) => Ok(Completion::ignored_with(why)),
    })
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// What a test function returns: `()`, or `Result<(), Unavailable>`.
pub trait TestResult {
    fn into_result(self) -> Result<(), Unavailable>;
}

impl TestResult for () {
    fn into_result(self) -> Result<(), Unavailable> {
        Ok(())
    }
}

impl TestResult for Result<(), Unavailable> {
    fn into_result(self) -> Self {
        self
    }
}

type Run = Box<dyn FnOnce() -> Result<(), Unavailable> + Send>;

/// A test function the harness can run; `Marker` tells the signatures apart.
pub trait IntoTrial<Marker> {
    fn into_run(self) -> Run;
}

/// Markers of [`IntoTrial`]'s four signatures.
pub struct Plain;
pub struct PlainAsync;
pub struct Engine;
pub struct EngineAsync;

impl<F, R> IntoTrial<Plain> for F
where
    F: FnOnce() -> R + Send + 'static,
    R: TestResult,
{
    fn into_run(self) -> Run {
        Box::new(move || self().into_result())
    }
}

impl<F, Fut> IntoTrial<PlainAsync> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: TestResult,
{
    fn into_run(self) -> Run {
        Box::new(move || runtime().block_on(self()).into_result())
    }
}

impl<F, R> IntoTrial<Engine> for F
where
    F: FnOnce(DockerRuntime) -> R + Send + 'static,
    R: TestResult,
{
    fn into_run(self) -> Run {
        Box::new(move || self(engine()?).into_result())
    }
}

impl<F, Fut> IntoTrial<EngineAsync> for F
where
    F: FnOnce(DockerRuntime) -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: TestResult,
{
    fn into_run(self) -> Run {
        Box::new(move || {
            let rt = engine()?;
            runtime().block_on(self(rt)).into_result()
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the test")
}

/// A client of the engine, or why there is none. The engine is pinged once per binary;
/// each test gets a fresh client, so none carries connections from another test's runtime.
fn engine() -> Result<DockerRuntime, Unavailable> {
    static CHECKED: OnceLock<Result<String, Unreachable>> = OnceLock::new();
    match CHECKED.get_or_init(check_engine) {
        Ok(endpoint) => DockerRuntime::connect(endpoint).map_err(|e| Unavailable(e.to_string())),
        // The short reason on every ignored line; the engine's own words where it fails.
        Err(Unreachable { at, why }) if required() => Err(Unavailable(format!(
            "no container engine reachable at {at}: {why}"
        ))),
        Err(Unreachable { at, .. }) => Err(Unavailable(format!("no container engine reachable at {at}"))),
    }
}

struct Unreachable {
    at: String,
    why: String,
}

/// The engine's endpoint when it answers a ping.
fn check_engine() -> Result<String, Unreachable> {
    let rt = DockerRuntime::from_env().map_err(|e| Unreachable {
        // Only a DOCKER_HOST that does not parse fails here.
        at: std::env::var("DOCKER_HOST").unwrap_or_default(),
        why: e.to_string(),
    })?;
    let at = rt.endpoint();
    let unreachable = |why: String| Unreachable { at: at.clone(), why };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        match tokio::time::timeout(PING_DEADLINE, rt.ping()).await {
            Ok(Ok(_)) => Ok(at.clone()),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!("no answer within {PING_DEADLINE:?}"))),
        }
    })
}
