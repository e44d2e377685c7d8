//! A job's output, kept in its job folder after its container is gone.
//!
//! Before berth removes a job container (on every path: an observed end, terminate, a
//! leftover cleared before a relaunch, recovery, the retention sweep) it copies the
//! container's whole stdout and stderr, as the engine's logs API returns them (not
//! following), into [`JOB_LOG_FILE`] in the job's folder. The bytes are kept raw, in the
//! engine's order, stdout and stderr interleaved as the job wrote them: the file reads
//! exactly like `docker logs` / `berth logs` did while the container existed, and a Python
//! traceback stays intact. Each copy rewrites the file with the complete output, so a second
//! copy (retention sweep, recovery after a crash) is harmless.
//!
//! The job folder is writable by the job, so the job may have planted something at that
//! name. The file is opened without following a symlink (`O_NOFOLLOW`), without blocking
//! on a FIFO (`O_NONBLOCK`), and used only when it is a regular file with a single link;
//! anything else is refused and logged. A failure here never loses the outcome: the outcome
//! is recorded before the copy, and the container is removed after it either way.

use berth_engine::ContainerRuntime;
use futures::StreamExt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the job output file in each job's folder.
pub const JOB_LOG_FILE: &str = "berth-job.log";

/// `<root>/<job_id>`, when `job_id` is one plain path component (a job id from a label is
/// not trusted to be one).
pub fn job_dir(root: &Path, job_id: &str) -> Option<PathBuf> {
    let plain = !job_id.is_empty()
        && job_id != "."
        && job_id != ".."
        && !job_id.contains('/')
        && !job_id.contains('\0');
    plain.then(|| root.join(job_id))
}

/// The job log file of a job folder.
pub fn job_log_path(job_dir: &Path) -> PathBuf {
    job_dir.join(JOB_LOG_FILE)
}

fn refuse(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} {why}; refusing to use it", path.display()),
    )
}

/// Check that an opened log file is a plain file berth may use.
fn check_plain(file: &File, path: &Path) -> io::Result<()> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(path, "is not a regular file"));
    }
    if meta.nlink() > 1 {
        return Err(refuse(path, "has other hard links"));
    }
    Ok(())
}

fn symlink_refused(path: &Path, e: io::Error) -> io::Error {
    // O_NOFOLLOW on a symlink fails with ELOOP.
    if e.raw_os_error() == Some(libc::ELOOP) {
        refuse(path, "is a symbolic link")
    } else {
        e
    }
}

/// Open (create or truncate) a job log file for writing, refusing a symlink, a FIFO, a
/// device or a file with other hard links at that path. Created files are mode 0644.
pub fn open_for_write(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| symlink_refused(path, e))?;
    check_plain(&file, path)?;
    // Truncate only once the file is known to be plain.
    file.set_len(0)?;
    Ok(file)
}

/// Open a job log file for reading, with the same refusals as [`open_for_write`].
pub fn open_for_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| symlink_refused(path, e))?;
    check_plain(&file, path)?;
    Ok(file)
}

/// The container's output, written to its job log file but not yet flushed to disk
/// ([`Copied::flush`]). The container may be removed once the copy is here: the bytes are
/// out of the engine.
#[derive(Debug)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    file: File,
}

impl Copied {
    /// Flush the file to disk, on the runtime's blocking pool (a flush waits for the disk).
    pub async fn flush(self) -> Result<(PathBuf, u64), String> {
        let Copied { path, bytes, file } = self;
        let flushed = tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match flushed {
            Ok(()) => Ok((path, bytes)),
            Err(e) => Err(format!("cannot flush {}: {e}", path.display())),
        }
    }
}

/// Copy the container's complete output into `<job_dir>/berth-job.log`, within `limit`;
/// [`Copied::flush`] puts it on disk, so a caller may remove the container meanwhile. With
/// `follow`, the copy goes on until the container stops (a terminate reads the output
/// while the kill is under way).
pub async fn copy(
    runtime: &dyn ContainerRuntime,
    container_id: &str,
    job_dir: &Path,
    limit: Duration,
    follow: bool,
) -> Result<Copied, String> {
    let path = job_log_path(job_dir);
    let copy = async {
        let mut stream = runtime.logs(container_id, follow).peekable();
        // A container the engine cannot show (gone already) leaves an earlier copy intact.
        if let Some(Err(e)) = std::pin::Pin::new(&mut stream).peek().await {
            return Err(format!("cannot read the container's output: {e}"));
        }
        let mut file = open_for_write(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("cannot read the container's output: {e}"))?;
            // Both streams go to the one file, in the engine's order.
            file.write_all(&chunk.bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written += chunk.bytes.len() as u64;
        }
        Ok::<_, String>((file, written))
    };
    match tokio::time::timeout(limit, copy).await {
        Ok(Ok((file, bytes))) => Ok(Copied { path, bytes, file }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "copying the output to {} took longer than {limit:?} (log_copy_timeout); the file is incomplete",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_dir_takes_only_plain_job_ids() {
        let root = Path::new("/ws");
        assert_eq!(job_dir(root, "job-1"), Some(PathBuf::from("/ws/job-1")));
        for bad in ["", ".", "..", "../x", "a/b"] {
            assert_eq!(job_dir(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_symlinks_fifos_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();

        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_for_write(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_for_read(&link).is_err());

        let hard = dir.path().join("hard.log");
        std::fs::hard_link(&target, &hard).unwrap();
        let e = open_for_write(&hard).unwrap_err();
        assert!(e.to_string().contains("hard links"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

        let fifo = dir.path().join("fifo.log");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Must not block waiting for a reader.
            assert!(open_for_write(&fifo).is_err());
        }

        let plain = dir.path().join("plain.log");
        std::fs::write(&plain, "old content that is longer").unwrap();
        let mut f = open_for_write(&plain).unwrap();
        f.write_all(b"new").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "new");
    }
}
