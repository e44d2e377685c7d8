//! berth-engine: the only door from berth to a container engine.
//!
//! [`ContainerRuntime`] is the whole surface berth uses. [`docker::DockerRuntime`] speaks
//! the Docker Engine API (also Podman's compatible socket, adapted by [`dialect`]); [`fake::FakeRuntime`] models
//! an engine in memory so lifecycle logic is tested without one.

pub mod deadline;
pub mod dialect;
pub mod docker;
pub mod fake;
pub mod raw;
pub mod runtime;

pub use runtime::*;
