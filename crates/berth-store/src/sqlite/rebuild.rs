//! Telling a damaged store file from a healthy one, and moving a damaged one aside.

use rusqlite::{Connection, ErrorCode};
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// A lock file older than this is taken to be left by a crashed process.
const STALE_LOCK: Duration = Duration::from_secs(60);
/// How often a process waiting for another's rebuild looks again.
const LOCK_POLL: Duration = Duration::from_millis(25);

/// Whether an error from SQLite means the file itself is damaged (as opposed to busy,
/// unreadable, or out of space, which a rebuild would not fix and must not hide).
pub fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Run SQLite's `quick_check`. `Ok(None)` when the file is sound, `Ok(Some(why))` when it is
/// damaged, `Err` for anything else (busy, I/O, permissions).
pub fn damage(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let rows = conn.prepare("PRAGMA quick_check").and_then(|mut stmt| {
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
    });
    match rows {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(None),
        Ok(rows) => Ok(Some(format!("quick_check: {}", rows.join("; ")))),
        Err(e) if is_corruption(&e) => Ok(Some(e.to_string())),
        Err(e) => Err(e),
    }
}

/// An exclusive right to rebuild one store, held by a lock file beside it, so that two
/// processes that both find the file damaged do not move each other's fresh store aside.
pub struct RebuildLock {
    path: PathBuf,
}

impl RebuildLock {
    /// Wait up to `timeout` for the lock.
    pub fn acquire(store: &Path, timeout: Duration) -> io::Result<RebuildLock> {
        let path = sidecar(store, ".rebuild-lock");
        let deadline = Instant::now() + timeout;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(RebuildLock { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if is_stale(&path) {
                        // Left by a process that died mid-rebuild. Two processes clearing the
                        // same stale lock at once could both proceed; each re-checks the file
                        // under the lock, which keeps that rare case from moving a sound store.
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "another process is rebuilding the store (lock file {}); \
                                 retry, or remove that file if no berth process is running",
                                path.display()
                            ),
                        ));
                    }
                    thread::sleep(LOCK_POLL);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for RebuildLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn is_stale(lock: &Path) -> bool {
    fs::metadata(lock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > STALE_LOCK)
}

/// `<store><suffix>`, e.g. `state.db-wal`.
pub fn sidecar(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Move the store file (and its `-wal` / `-shm` files, which belong to it and must not be
/// replayed into a fresh store) to `<store>.corrupt-<unix-seconds>`. Returns the new path of
/// the main file.
pub fn move_aside(store: &Path, unix_secs: i64) -> io::Result<PathBuf> {
    let mut target = sidecar(store, &format!(".corrupt-{unix_secs}"));
    let mut n = 1;
    while target.exists() {
        target = sidecar(store, &format!(".corrupt-{unix_secs}-{n}"));
        n += 1;
    }
    fs::rename(store, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = sidecar(store, suffix);
        if side.exists() {
            fs::rename(&side, sidecar(&target, suffix))?;
        }
    }
    if let Some(dir) = store.parent() {
        // Make the renames themselves durable; not every platform can open a directory.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(target)
}
