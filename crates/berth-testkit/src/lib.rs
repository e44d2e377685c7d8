//! berth-testkit: what berth's test suites share, so each fixture exists once.
//!
//! - [`obj`]: a `json!` object literal as a map (the core's `pyval::Map`); [`noise`]:
//!   deterministic junk bytes for tests that corrupt a file.
//! - [`test_main!`] and [`harness`]: the harness of the suites that need an engine; a test
//!   that cannot run here is reported `ignored` with its reason (never a silent pass), and
//!   with `BERTH_REQUIRE_DOCKER=1` (CI) it fails instead.
//! - [`unique_name`] and [`Cleanup`]: names no parallel test shares, and a guard that
//!   removes what a test created, also when it panics.
//! - [`run_output`]: a program's exit status, stdout and stderr, as a user would see them.
//! - [`fake_site`]: the fixed site, labels and plans of the in-memory engine suites.
//! - [`SiteWorkspace`]: a site's host side (workspace folders, launcher args, job folders,
//!   plans); [`LiveSite`]: the same on the real engine, with a network and stub image of its
//!   own, all removed at the end.
//!
//! Only for tests and test programs (`publish = false`); no shipped crate depends on it.
//! The real-engine part is the default `live` feature; berth-core's tests use the kit
//! without it, so they need neither the engine crate nor a runtime.

#[cfg(feature = "live")]
mod engine;
#[cfg(feature = "live")]
pub mod fake_site;
#[cfg(feature = "live")]
pub mod harness;
mod json;
mod noise;
mod process;
#[cfg(feature = "live")]
mod site;

/// Where [`Cleanup::new_setuid_stub_image`] images hold a setuid-root copy of the stub.
#[cfg(feature = "live")]
pub use berth_stub_image::SETUID_STUB_PATH;
#[cfg(feature = "live")]
pub use engine::{block_on, unique_name, Cleanup, REQUIRE_ENV, TEST_PREFIX};
#[cfg(feature = "live")]
pub use harness::Unavailable;
pub use json::obj;
pub use noise::noise;
pub use process::run_output;
#[cfg(feature = "live")]
pub use site::{LiveSite, SiteWorkspace, CLIENT_MODULE};
