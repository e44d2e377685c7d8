//! [`SqliteStore`]: the durable [`OutcomeStore`] of a site, one SQLite file under the site
//! workspace.
//!
//! # Where it lives
//!
//! [`default_path`] is `<workspace>/.berth/state.db`. Job containers never see it: a job
//! container mounts only `startup/`, `local/` and its own job folder. The directory is created
//! when missing.
//!
//! # Durability and concurrency
//!
//! - `journal_mode=WAL`: readers never block the writer and the writer never blocks readers,
//!   across processes on the same host.
//! - `synchronous=FULL`: every commit is flushed to disk (fsync of the WAL) before the call
//!   returns, so an outcome that [`OutcomeStore::record_outcome`] returned survives a crash of
//!   berth or of the machine, and the launcher may then remove the container. The one
//!   exception is a launch record ([`OutcomeStore::record_launch`]), committed without the
//!   flush: the container's labels hold everything it says, so `recover` rebuilds a lost one,
//!   and the next fully synced commit (an outcome) flushes it too.
//! - A busy timeout ([`StoreOptions::busy_timeout`], 30 s by default): when several CLI
//!   processes or launchers of one site write at once, each waits its turn instead of failing.
//!   Writes are single short transactions, so the wait is milliseconds in practice.
//! - The first outcome recorded for a container wins, enforced by the database (one row per
//!   container id, `INSERT … ON CONFLICT DO NOTHING`, then read back in the same transaction),
//!   so two processes that observe the same exit agree on what was stored.
//!
//! The store needs a local filesystem: SQLite's WAL mode does not work over NFS and similar.
//!
//! # Missing, damaged and foreign files
//!
//! - A missing file (or directory) is created with an empty store.
//! - A damaged file, one that is not a SQLite database at all (random bytes, truncated
//!   header) or that fails `PRAGMA quick_check` (e.g. truncated pages), is never used and never
//!   deleted: it is renamed to `state.db.corrupt-<unix-seconds>` (with its `-wal` and `-shm`
//!   files, if any), a fresh store is created in its place, and the [`OpenReport`] says so
//!   ([`OpenReport::rebuilt_from`], [`OpenReport::notice`]). The caller shows that notice. The
//!   history of finished jobs is then only in the moved file; the outcomes of jobs whose
//!   containers still exist are recovered from the containers' labels by `berth recover`.
//!   Only SQLite's own verdicts (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, a failing check) count as
//!   damage: a busy, unreadable or full disk is an error, never a reason to move a file.
//! - A store written by a newer berth, or a SQLite file of another program, is an error
//!   ([`StoreError::Incompatible`]) and is left untouched.
//! - Damage found after opening (while reading or writing) is returned as
//!   [`StoreError::Corrupt`]; the next open moves the file aside as above.

mod rebuild;
mod schema;

use crate::time::now_ms;
use crate::{HistoryEntry, JobOutcome, LaunchFilter, LaunchRecord, ObservedBy, OutcomeStore, StoreError};
use berth_core::args::Role;
use berth_core::JobReturnCode;
use rusqlite::config::DbConfig;
use rusqlite::types::{Type, Value};
use rusqlite::{params_from_iter, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use schema::CURRENT_VERSION as SCHEMA_VERSION;

/// The store's directory under the workspace root (hidden, outside every job's mounts).
pub const STORE_DIR: &str = ".berth";
/// The store's file name inside [`STORE_DIR`].
pub const STORE_FILE: &str = "state.db";

/// The store's default location: `<workspace>/.berth/state.db`.
///
/// `workspace` is the site workspace root as berth itself sees it: the host workspace when
/// berth runs on the host, the parent view (`--parent-root`) when it runs inside the parent
/// container. Both name the same directory.
pub fn default_path(host_or_parent_workspace: &Path) -> PathBuf {
    host_or_parent_workspace.join(STORE_DIR).join(STORE_FILE)
}

/// How to open a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a write waits for another process's write to finish before failing with
    /// [`StoreError::Busy`]. Also how long an open waits for another process that is
    /// rebuilding a damaged store.
    pub busy_timeout: Duration,
}

impl StoreOptions {
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// What opening a store found. Show [`OpenReport::notice`] to the operator when it is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The store file.
    pub path: PathBuf,
    /// The store was empty or absent, and this open created its schema.
    pub created: bool,
    /// A damaged store was moved here and a fresh one created in its place.
    pub rebuilt_from: Option<PathBuf>,
    /// Why the moved file was judged damaged (SQLite's words).
    pub damage: Option<String>,
}

impl OpenReport {
    /// The message for the operator when something happened that they should know about.
    pub fn notice(&self) -> Option<String> {
        let moved = self.rebuilt_from.as_ref()?;
        Some(format!(
            "the state store {} was damaged ({}); it was moved to {} and the store was rebuilt; \
             outcomes of running jobs will be recovered from container labels (run `berth recover`), \
             the history of earlier jobs is only in the moved file",
            self.path.display(),
            self.damage.as_deref().unwrap_or("unreadable"),
            moved.display()
        ))
    }
}

/// The SQLite-backed [`OutcomeStore`]. One connection per value; open one per thread or
/// share one value (calls are serialised by a mutex). Any number of processes may open the
/// same file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why [`open_checked`] did not return a connection.
enum Opening {
    Damaged(String),
    Failed(StoreError),
}

impl SqliteStore {
    /// Open (or create) the store at `path` with default options. See the module docs for
    /// what happens to a damaged file.
    pub fn open(path: &Path) -> Result<(SqliteStore, OpenReport), StoreError> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// Open (or create) the store at `path`.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<(SqliteStore, OpenReport), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| {
                io_error(
                    path,
                    &format!("cannot create its directory {}", dir.display()),
                    &e,
                )
            })?;
        }
        let mut report = OpenReport {
            path: path.to_path_buf(),
            created: false,
            rebuilt_from: None,
            damage: None,
        };

        let conn = match open_checked(path, options, &mut report) {
            Ok(conn) => conn,
            Err(Opening::Failed(e)) => return Err(e),
            Err(Opening::Damaged(_)) => rebuild_damaged(path, options, &mut report)?,
        };
        Ok((
            SqliteStore {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            },
            report,
        ))
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Launches matching `filter`, each with its outcome if one was recorded, oldest first
    /// (by launch time, then by insertion order). With a limit, the newest that many.
    pub fn launches(&self, filter: &LaunchFilter) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut sql = format!("{SELECT_JOINED} WHERE 1 = 1");
        let mut params: Vec<Value> = Vec::new();
        if let Some(site) = &filter.site {
            params.push(Value::Text(site.clone()));
            sql.push_str(&format!(" AND l.site = ?{}", params.len()));
        }
        if let Some(job_id) = &filter.job_id {
            params.push(Value::Text(job_id.clone()));
            sql.push_str(&format!(" AND l.job_id = ?{}", params.len()));
        }
        if let Some(role) = filter.role {
            params.push(Value::Text(role.as_str().to_string()));
            sql.push_str(&format!(" AND l.role = ?{}", params.len()));
        }
        if let Some(since) = filter.since_ms {
            params.push(Value::Integer(since));
            sql.push_str(&format!(" AND l.launched_at_ms >= ?{}", params.len()));
        }
        match filter.finished {
            Some(true) => sql.push_str(" AND o.container_id IS NOT NULL"),
            Some(false) => sql.push_str(" AND o.container_id IS NULL"),
            None => {}
        }
        sql.push_str(" ORDER BY l.launched_at_ms DESC, l.rowid DESC");
        if let Some(limit) = filter.limit {
            params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT ?{}", params.len()));
        }

        let conn = self.lock();
        let mut entries = conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.query_map(params_from_iter(params), history_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.db_error("reading launches", e))?;
        entries.reverse();
        Ok(entries)
    }

    /// The newest `limit` launches of every site, oldest first: `berth ps --all`.
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        self.launches(&LaunchFilter {
            limit: Some(limit),
            ..LaunchFilter::default()
        })
    }

    /// The latest launch of `job_id` on `site`, with its outcome.
    pub fn launch_by_job(&self, job_id: &str, site: &str) -> Result<Option<HistoryEntry>, StoreError> {
        Ok(self
            .launches(&LaunchFilter {
                site: Some(site.to_string()),
                job_id: Some(job_id.to_string()),
                limit: Some(1),
                ..LaunchFilter::default()
            })?
            .pop())
    }

    /// The launch of a container, with its outcome.
    pub fn launch_by_container(&self, container_id: &str) -> Result<Option<HistoryEntry>, StoreError> {
        let conn = self.lock();
        conn.prepare_cached(&format!("{SELECT_JOINED} WHERE l.container_id = ?1"))
            .and_then(|mut stmt| stmt.query_row([container_id], history_entry).optional())
            .map_err(|e| self.db_error("reading a launch", e))
    }

    /// Launches of `site` that have no outcome yet, oldest first: what recovery must settle.
    pub fn pending_launches(&self, site: &str) -> Result<Vec<LaunchRecord>, StoreError> {
        Ok(self
            .launches(&LaunchFilter {
                site: Some(site.to_string()),
                finished: Some(false),
                ..LaunchFilter::default()
            })?
            .into_iter()
            .map(|e| e.launch)
            .collect())
    }

    /// Forget finished launches whose outcome was recorded before `cutoff_ms` (Unix
    /// milliseconds), and outcomes without a launch recorded before it. Launches without an
    /// outcome are always kept: recovery still needs them.
    pub fn prune_older_than(&self, cutoff_ms: i64) -> Result<PruneReport, StoreError> {
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> rusqlite::Result<PruneReport> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let launches = tx.execute(
                "DELETE FROM launches WHERE container_id IN
                     (SELECT container_id FROM outcomes WHERE recorded_at_ms < ?1)",
                [cutoff_ms],
            )?;
            let outcomes = tx.execute("DELETE FROM outcomes WHERE recorded_at_ms < ?1", [cutoff_ms])?;
            tx.commit()?;
            Ok(PruneReport { launches, outcomes })
        };
        run(&mut conn).map_err(|e| self.db_error("pruning old records", e))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction: an open
        // transaction is rolled back when its guard drops during the unwind.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn db_error(&self, doing: &str, e: rusqlite::Error) -> StoreError {
        db_error(&self.path, doing, e)
    }
}

/// What [`SqliteStore::prune_older_than`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    pub launches: usize,
    pub outcomes: usize,
}

impl OutcomeStore for SqliteStore {
    /// Record a launch. Recording the same container again is a no-op (recovery may
    /// re-record a launch it learned from labels).
    ///
    /// Committed without waiting for the disk (`synchronous=NORMAL` for this one commit):
    /// a launch record that a crash loses is rebuilt by `recover` from the container's
    /// labels, and the next outcome commit (`FULL`) flushes it along with the outcome.
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        let insert = |conn: &Connection| -> rusqlite::Result<()> {
            conn.prepare_cached(
                "INSERT INTO launches (container_id, job_id, site, role, container_name, image,
                                       plan_digest, workspace, launched_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (container_id) DO NOTHING",
            )?
            .execute((
                &launch.container_id,
                &launch.job_id,
                &launch.site,
                launch.role.as_str(),
                &launch.container_name,
                &launch.image,
                &launch.plan_digest,
                &launch.workspace,
                launch.launched_at_ms,
            ))
            .map(drop)
        };
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.db_error("recording a launch", e))?;
        let inserted = insert(&conn);
        // Every other commit stays fully synced, whatever the insert did.
        let restored = conn.pragma_update(None, "synchronous", "FULL");
        inserted
            .and(restored)
            .map_err(|e| self.db_error("recording a launch", e))
    }

    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError> {
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> rusqlite::Result<JobOutcome> {
            // IMMEDIATE: take the write lock first, so the insert and the read-back see the
            // same state and a concurrent writer waits (busy timeout) instead of failing.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO outcomes (container_id, job_id, return_code, exit_code, oom_killed,
                                       finished_at, observed_by, recorded_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (container_id) DO NOTHING",
            )?
            .execute((
                &outcome.container_id,
                &outcome.job_id,
                outcome.return_code.code(),
                outcome.exit_code,
                outcome.oom_killed,
                &outcome.finished_at,
                outcome.observed_by.as_str(),
                outcome.recorded_at_ms,
            ))?;
            let stored = tx
                .prepare_cached(&format!("{SELECT_OUTCOME} WHERE container_id = ?1"))?
                .query_row([&outcome.container_id], |r| job_outcome(r, 0))?;
            tx.commit()?;
            Ok(stored)
        };
        run(&mut conn).map_err(|e| self.db_error("recording an outcome", e))
    }

    fn withdraw_outcome(&self, outcome: &JobOutcome) -> Result<bool, StoreError> {
        let conn = self.lock();
        conn.prepare_cached(
            "DELETE FROM outcomes WHERE container_id = ?1 AND observed_by = ?2 AND recorded_at_ms = ?3",
        )
        .and_then(|mut stmt| {
            stmt.execute((
                &outcome.container_id,
                outcome.observed_by.as_str(),
                outcome.recorded_at_ms,
            ))
        })
        .map(|n| n > 0)
        .map_err(|e| self.db_error("taking back an outcome", e))
    }

    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError> {
        let conn = self.lock();
        conn.prepare_cached(&format!("{SELECT_OUTCOME} WHERE container_id = ?1"))
            .and_then(|mut stmt| stmt.query_row([container_id], |r| job_outcome(r, 0)).optional())
            .map_err(|e| self.db_error("reading an outcome", e))
    }

    fn launch_record(&self, container_id: &str) -> Result<Option<LaunchRecord>, StoreError> {
        Ok(self.launch_by_container(container_id)?.map(|e| e.launch))
    }

    fn pending_launches(&self, site: &str) -> Result<Vec<LaunchRecord>, StoreError> {
        SqliteStore::pending_launches(self, site)
    }
}

/// Move a damaged store aside and create a fresh one in its place, under the rebuild lock.
fn rebuild_damaged(
    path: &Path,
    options: &StoreOptions,
    report: &mut OpenReport,
) -> Result<Connection, StoreError> {
    let _lock = rebuild::RebuildLock::acquire(path, options.busy_timeout)
        .map_err(|e| io_error(path, "cannot take the rebuild lock", &e))?;
    // Another process may have rebuilt the store while this one waited for the lock.
    let why = match open_checked(path, options, report) {
        Ok(conn) => return Ok(conn),
        Err(Opening::Failed(e)) => return Err(e),
        Err(Opening::Damaged(why)) => why,
    };
    let moved = rebuild::move_aside(path, now_ms() / 1000)
        .map_err(|e| io_error(path, "is damaged and could not be moved aside", &e))?;
    report.rebuilt_from = Some(moved);
    report.damage = Some(why);
    match open_checked(path, options, report) {
        Ok(conn) => Ok(conn),
        Err(Opening::Failed(e)) => Err(e),
        Err(Opening::Damaged(why)) => Err(StoreError::Corrupt {
            path: path.display().to_string(),
            message: format!(
                "a fresh store created in place of the damaged one is damaged too ({why}); \
                 check the disk and the filesystem"
            ),
        }),
    }
}

/// Open one connection, check the file, set it up and migrate it.
fn open_checked(path: &Path, options: &StoreOptions, report: &mut OpenReport) -> Result<Connection, Opening> {
    let failed = |doing: &str, e: rusqlite::Error| {
        if rebuild::is_corruption(&e) {
            Opening::Damaged(e.to_string())
        } else {
            Opening::Failed(db_error(path, doing, e))
        }
    };
    let mut conn = Connection::open(path).map_err(|e| failed("opening", e))?;
    // Until the file has passed the checks, closing this connection must not checkpoint a
    // WAL into it (or delete the WAL): a damaged file is moved aside exactly as it was found.
    set_checkpoint_on_close(&conn, false).map_err(|e| failed("configuring the connection", e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| failed("setting the busy timeout", e))?;
    if let Some(why) = rebuild::damage(&conn).map_err(|e| failed("checking the file", e))? {
        return Err(Opening::Damaged(why));
    }
    let mode = switch_to_wal(&conn, options.busy_timeout).map_err(|e| failed("switching to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Opening::Failed(StoreError::Io {
            path: path.display().to_string(),
            message: format!(
                "SQLite refused WAL mode (journal mode is '{mode}'); put the workspace on a local \
                 filesystem (network filesystems cannot share the WAL index)"
            ),
        }));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| failed("setting synchronous=FULL", e))?;
    match schema::migrate(&mut conn, now_ms()).map_err(|e| failed("creating or migrating the schema", e))? {
        schema::Migrated::Current { from } => {
            report.created = from == 0;
            set_checkpoint_on_close(&conn, true).map_err(|e| failed("configuring the connection", e))?;
            Ok(conn)
        }
        schema::Migrated::Newer(version) => Err(Opening::Failed(StoreError::Incompatible {
            path: path.display().to_string(),
            message: format!(
                "it has schema version {version}, written by a newer berth (this one knows up to {}); \
                 run that berth, or move the file away to start a new history",
                schema::CURRENT_VERSION
            ),
        })),
        schema::Migrated::ForeignApplication(id) => Err(Opening::Failed(StoreError::Incompatible {
            path: path.display().to_string(),
            message: format!(
                "it is a SQLite database of another program (application_id {id:#x}); \
                 move it away or pass another store path"
            ),
        })),
    }
}

/// Sets `journal_mode=WAL` and returns the mode SQLite reports.
///
/// Two processes opening a new store at once both hold a shared lock when they ask for the
/// exclusive one this change needs; SQLite then answers one of them "busy" at once, without
/// its busy handler (waiting could deadlock). The statement holds no lock once it has failed,
/// so it is retried until the busy timeout has passed.
fn switch_to_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

fn set_checkpoint_on_close(conn: &Connection, on: bool) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, !on)
        .map(drop)
}

/// Launch columns 0..=8, outcome columns 9..=16 (all NULL when there is no outcome).
const SELECT_JOINED: &str = "
    SELECT l.container_id, l.job_id, l.site, l.role, l.container_name, l.image, l.plan_digest,
           l.workspace, l.launched_at_ms,
           o.container_id, o.job_id, o.return_code, o.exit_code, o.oom_killed, o.finished_at,
           o.observed_by, o.recorded_at_ms
    FROM launches l LEFT JOIN outcomes o ON o.container_id = l.container_id";

const SELECT_OUTCOME: &str = "
    SELECT container_id, job_id, return_code, exit_code, oom_killed, finished_at, observed_by,
           recorded_at_ms
    FROM outcomes";

fn history_entry(r: &Row<'_>) -> rusqlite::Result<HistoryEntry> {
    let role: String = r.get(3)?;
    let role = match role.as_str() {
        "server" => Role::Server,
        "client" => Role::Client,
        _ => return Err(bad_value(3, format!("unknown role '{role}'"))),
    };
    let launch = LaunchRecord {
        container_id: r.get(0)?,
        job_id: r.get(1)?,
        site: r.get(2)?,
        role,
        container_name: r.get(4)?,
        image: r.get(5)?,
        plan_digest: r.get(6)?,
        workspace: r.get(7)?,
        launched_at_ms: r.get(8)?,
    };
    let outcome = match r.get::<_, Option<String>>(9)? {
        Some(_) => Some(job_outcome(r, 9)?),
        None => None,
    };
    Ok(HistoryEntry { launch, outcome })
}

/// Read an outcome from eight columns starting at `at`.
fn job_outcome(r: &Row<'_>, at: usize) -> rusqlite::Result<JobOutcome> {
    let code: i32 = r.get(at + 2)?;
    let return_code = JobReturnCode::from_code(code)
        .ok_or_else(|| bad_value(at + 2, format!("unknown return code {code}")))?;
    let observed: String = r.get(at + 6)?;
    let observed_by = ObservedBy::parse(&observed)
        .ok_or_else(|| bad_value(at + 6, format!("unknown observation '{observed}'")))?;
    let (container_id, job_id): (String, String) = (r.get(at)?, r.get(at + 1)?);
    Ok(
        JobOutcome::new(&job_id, &container_id, return_code, observed_by, r.get(at + 7)?).with_exit(
            r.get(at + 3)?,
            r.get(at + 4)?,
            r.get(at + 5)?,
        ),
    )
}

fn bad_value(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, message.into())
}

/// A SQLite error as a [`StoreError`] that names the file and says what to do.
fn db_error(path: &Path, doing: &str, e: rusqlite::Error) -> StoreError {
    let where_ = path.display().to_string();
    let dir = path
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| ".".into());
    if let rusqlite::Error::FromSqlConversionFailure(..) = e {
        return StoreError::Corrupt {
            path: where_,
            message: format!("{doing}: a stored row cannot be read ({e}); it was written by another program"),
        };
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: where_,
            message: format!(
                "{doing}: another process kept it locked past the busy timeout ({e}); retry, and \
                 look for a hung berth process on this site"
            ),
        },
        Some(ErrorCode::DiskFull) => StoreError::Io {
            path: where_,
            message: format!("{doing}: the disk is full ({e}); free space on the filesystem holding {dir}"),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => StoreError::Io {
            path: where_,
            message: format!(
                "{doing}: cannot open or write it ({e}); make {dir} and the files in it readable and \
                 writable by the user running berth"
            ),
        },
        Some(ErrorCode::SystemIoFailure) => StoreError::Io {
            path: where_,
            message: format!("{doing}: I/O error ({e}); check the disk and the filesystem holding {dir}"),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            path: where_,
            message: format!(
                "{doing}: {e}; the next open moves the damaged file aside and starts a fresh store"
            ),
        },
        _ => StoreError::Io {
            path: where_,
            message: format!("{doing}: {e}"),
        },
    }
}

/// A filesystem error as a [`StoreError`] with a hint for the common causes.
fn io_error(path: &Path, doing: &str, e: &io::Error) -> StoreError {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            "; make the workspace's .berth directory writable by the user running berth"
        }
        io::ErrorKind::StorageFull => "; free space on that filesystem",
        io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
            "; a file is in the way of the store directory, move it"
        }
        _ => "",
    };
    StoreError::Io {
        path: path.display().to_string(),
        message: format!("{doing}: {e}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(store: &SqliteStore) -> i64 {
        store
            .lock()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("read synchronous")
    }

    /// A launch record is committed without the flush; every other commit keeps
    /// `synchronous=FULL` (2), also after a launch insert that failed.
    #[test]
    fn only_launch_records_skip_the_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = SqliteStore::open(&dir.path().join("state.db")).expect("open");
        assert_eq!(synchronous(&store), 2);
        let launch = LaunchRecord {
            job_id: "job-1".into(),
            site: "site-1".into(),
            role: Role::Client,
            container_id: "c1".into(),
            container_name: "site-1-job-1".into(),
            image: "img".into(),
            plan_digest: String::new(),
            workspace: "/ws".into(),
            launched_at_ms: 1,
        };
        store.record_launch(&launch).expect("record launch");
        assert_eq!(synchronous(&store), 2);
        assert_eq!(
            store.launch_record("c1").expect("read").map(|l| l.job_id),
            Some("job-1".into())
        );
        store
            .lock()
            .execute_batch("DROP TABLE launches")
            .expect("drop table");
        assert!(store.record_launch(&launch).is_err());
        assert_eq!(synchronous(&store), 2);
    }
}
