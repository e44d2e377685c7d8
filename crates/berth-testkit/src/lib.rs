//! berth-testkit: what berth's test suites share, so each fixture exists once.
//!
//! - [`obj`]: a `json!` object literal as a map (the core's `pyval::Map`); [`noise`]:
//!   deterministic junk bytes for tests that corrupt a file.
//! - [`engine_or_skip`]: the real engine, or a skip that says why (never a silent pass);
//!   with `BERTH_REQUIRE_DOCKER=1` (CI) a missing engine fails the test instead.
//! - [`unique_name`] and [`Cleanup`]: names no parallel test shares, and a guard that
//!   removes what a test created, also when it panics.
//! - [`run_output`]: a program's exit status, stdout and stderr, as a user would see them.
//! - [`LiveSite`]: a site on the real engine: workspace folders, network, stub image and
//!   launcher args, all removed at the end.
//!
//! Only for tests and test programs (`publish = false`); no shipped crate depends on it.
//! The real-engine part is the default `live` feature; berth-core's tests use the kit
//! without it, so they need neither the engine crate nor a runtime.

#[cfg(feature = "live")]
mod engine;
mod json;
mod noise;
mod process;
#[cfg(feature = "live")]
mod site;

/// Where [`Cleanup::new_setuid_stub_image`] images hold a setuid-root copy of the stub.
#[cfg(feature = "live")]
pub use berth_stub_image::SETUID_STUB_PATH;
#[cfg(feature = "live")]
pub use engine::{block_on, engine_or_skip, skip, unique_name, Cleanup, REQUIRE_ENV, TEST_PREFIX};
pub use json::obj;
pub use noise::noise;
pub use process::run_output;
#[cfg(feature = "live")]
pub use site::{LiveSite, CLIENT_MODULE};
