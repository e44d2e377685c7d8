//! berth-store: what a site launched and how each launch ended.
//!
//! The launcher writes a [`LaunchRecord`] when a container is created and a [`JobOutcome`]
//! as soon as the container's end is observed, *before* the container is removed, so an
//! outcome survives a crash of berth itself.
//!
//! Two implementations of [`OutcomeStore`]: [`SqliteStore`], the durable one a site uses
//! (see [`sqlite`] for durability, concurrency and what happens to a damaged file), and
//! [`MemoryStore`] for tests and callers that keep no history.
//!
//! # Why SQLite
//!
//! A site's state store must survive crashes, be shared safely by several berth processes
//! (a launcher and CLI commands run side by side), and need nothing installed or running.
//! SQLite does all of that: it is one of the most widely deployed and most heavily tested
//! pieces of software there is, with a stable file format; the whole store is a single file
//! under the site workspace; every write is an ACID transaction that is on disk when it
//! returns; its WAL mode lets many processes read while one writes, with file locks that
//! serialise writers across processes; and it is a library, not a server, compiled into
//! berth (`rusqlite` with the `bundled` feature), so no system library or daemon has to match.

pub mod memory;
pub mod records;
pub mod sqlite;
pub mod time;

pub use memory::MemoryStore;
pub use records::*;
pub use sqlite::{default_path, OpenReport, PruneReport, SqliteStore, StoreOptions};
