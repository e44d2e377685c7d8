//! berth-store: what a site launched and how each launch ended.
//!
//! The launcher writes a [`LaunchRecord`] when a container is created and a [`JobOutcome`]
//! as soon as the container's end is observed, *before* the container is removed, so an
//! outcome survives a crash of berth itself.

pub mod memory;
pub mod records;

pub use memory::MemoryStore;
pub use records::*;
