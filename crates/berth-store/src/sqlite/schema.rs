//! The store's schema and its migrations.
//!
//! Each migration runs once, in order, inside the same `BEGIN IMMEDIATE` transaction that
//! reads the current version, so several processes opening a new store at once apply it once.
//! A store written by a newer berth (a version above [`CURRENT_VERSION`]) is refused, never
//! rewritten.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Marks the file as berth's (`PRAGMA application_id`, ASCII "BRTH").
pub const APPLICATION_ID: i32 = 0x4252_5448;

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = 1;

/// `(version, SQL)`, ascending. Never edit a released entry; add a new one.
const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

const V1: &str = "
CREATE TABLE launches (
    container_id   TEXT PRIMARY KEY NOT NULL,
    job_id         TEXT NOT NULL,
    site           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('server', 'client')),
    container_name TEXT NOT NULL,
    image          TEXT NOT NULL,
    plan_digest    TEXT NOT NULL,
    workspace      TEXT NOT NULL,
    launched_at_ms INTEGER NOT NULL
);
CREATE INDEX launches_by_job ON launches (job_id, site, launched_at_ms);
CREATE INDEX launches_by_time ON launches (launched_at_ms);

-- No foreign key: recovery may learn an outcome before (or without) the launch record,
-- e.g. after the store was rebuilt. One row per container: the first outcome wins.
CREATE TABLE outcomes (
    container_id   TEXT PRIMARY KEY NOT NULL,
    job_id         TEXT NOT NULL,
    return_code    INTEGER NOT NULL,
    exit_code      INTEGER,
    oom_killed     INTEGER NOT NULL CHECK (oom_killed IN (0, 1)),
    finished_at    TEXT,
    observed_by    TEXT NOT NULL,
    recorded_at_ms INTEGER NOT NULL
);
";

/// What [`migrate`] found.
pub enum Migrated {
    /// The schema is at [`CURRENT_VERSION`]; `from` is the version before (0 for a new store).
    Current { from: i64 },
    /// The file belongs to another program (its `application_id`).
    ForeignApplication(i32),
    /// Written by a newer berth.
    Newer(i64),
}

/// Bring the schema to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection, now_ms: i64) -> rusqlite::Result<Migrated> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app_id: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Ok(Migrated::ForeignApplication(app_id));
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS berth_schema (
             version       INTEGER PRIMARY KEY NOT NULL,
             applied_at_ms INTEGER NOT NULL
         );",
    )?;
    let from: i64 = tx
        .query_row("SELECT MAX(version) FROM berth_schema", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    if from > CURRENT_VERSION {
        return Ok(Migrated::Newer(from));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO berth_schema (version, applied_at_ms) VALUES (?1, ?2)",
            (version, now_ms),
        )?;
    }
    if app_id == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    tx.commit()?;
    Ok(Migrated::Current { from })
}
