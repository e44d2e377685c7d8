//! berth-stub-image: a job image `FROM scratch` that needs no registry.
//!
//! The image holds one program, the static job stub (`crates/job-stub`), installed as
//! `/usr/local/bin/python` because the launcher runs `<python_path> -u -m <module> ...`.
//! What the stub does is scripted through `STUB_SCRIPT` or a `stub.script` file in the job
//! folder; see the job-stub crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth_engine::EngineError> {
//! use berth_engine::docker::DockerRuntime;
//! let rt = DockerRuntime::from_env()?;
//! let tag = berth_stub_image::default_tag();
//! berth_stub_image::ensure_stub_image(&rt, &tag).await?;
//! # Ok(()) }
//! ```
//!
//! The helpers for tests that need an engine are in the berth-testkit crate.

use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineResult};

/// The static job stub, built by this crate's build script.
pub const STUB_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/job-stub"));

/// Where the stub sits in the image: the launcher's default `python_path` finds it.
pub const STUB_PATH: &str = "/usr/local/bin/python";

/// A tag that changes whenever the stub does, so a stale image is never reused:
/// `berth-job-stub:<hash of the binary>`.
pub fn default_tag() -> String {
    format!("berth-job-stub:{:016x}", fnv1a(STUB_BINARY))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The image's root filesystem as a tar archive: the stub at [`STUB_PATH`] (0755), `/tmp`
/// and `/var/tmp` (1777), and empty `/etc`, `/usr`, `/var`. No `/etc/passwd`: jobs run as a
/// numeric `uid:gid`.
pub fn rootfs_tar() -> Vec<u8> {
    rootfs(false)
}

/// Where [`rootfs_tar_with_setuid_helper`] puts a setuid-root copy of the stub.
pub const SETUID_STUB_PATH: &str = "/usr/local/bin/setuid-stub";

/// [`rootfs_tar`] plus a copy of the stub owned by root with the setuid bit (04755) at
/// [`SETUID_STUB_PATH`]: a job running as another user that runs it tries to become root,
/// which is what privilege-escalation tests need.
pub fn rootfs_tar_with_setuid_helper() -> Vec<u8> {
    rootfs(true)
}

fn rootfs(setuid_helper: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let dirs: [(&str, u32); 7] = [
        ("etc/", 0o755),
        ("tmp/", 0o1777),
        ("usr/", 0o755),
        ("usr/local/", 0o755),
        ("usr/local/bin/", 0o755),
        ("var/", 0o755),
        ("var/tmp/", 0o1777),
    ];
    for (path, mode) in dirs {
        append(&mut builder, path, tar::EntryType::Directory, mode, &[]);
    }
    append(
        &mut builder,
        STUB_PATH.trim_start_matches('/'),
        tar::EntryType::Regular,
        0o755,
        STUB_BINARY,
    );
    if setuid_helper {
        append(
            &mut builder,
            SETUID_STUB_PATH.trim_start_matches('/'),
            tar::EntryType::Regular,
            0o4755,
            STUB_BINARY,
        );
    }
    // Writing into a Vec cannot fail.
    builder.into_inner().unwrap_or_default()
}

fn append(builder: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, mode: u32, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
    // Paths are short, relative constants and data is in memory: appending cannot fail.
    let _ = builder.append_data(&mut header, path, data);
}

/// Makes sure image `tag` exists, importing the stub image under that tag when it does not.
/// Does not replace an existing image of that name (use [`default_tag`] to get a fresh one).
pub async fn ensure_stub_image(rt: &DockerRuntime, tag: &str) -> EngineResult<()> {
    if rt.image_exists(tag).await? {
        return Ok(());
    }
    rt.import_image(rootfs_tar(), tag).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stub_is_a_static_elf() {
        assert_eq!(&STUB_BINARY[..4], b"\x7fELF");
        assert!(STUB_BINARY.len() > 10_000);
    }

    #[test]
    fn the_rootfs_holds_the_stub_and_a_sticky_tmp() {
        let tar_bytes = rootfs_tar();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = std::collections::HashMap::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            seen.insert(
                path,
                (entry.header().mode().unwrap(), entry.header().size().unwrap()),
            );
        }
        assert_eq!(seen["usr/local/bin/python"], (0o755, STUB_BINARY.len() as u64));
        assert_eq!(seen["tmp/"].0, 0o1777);
        assert!(!seen.contains_key("etc/passwd"));
    }

    #[test]
    fn only_the_setuid_variant_holds_a_setuid_root_copy() {
        let modes = |bytes: Vec<u8>| -> std::collections::HashMap<String, (u32, u64)> {
            let mut archive = tar::Archive::new(bytes.as_slice());
            archive
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let h = e.header();
                    (
                        e.path().unwrap().display().to_string(),
                        (h.mode().unwrap(), h.uid().unwrap()),
                    )
                })
                .collect()
        };
        let plain = modes(rootfs_tar());
        assert!(plain.values().all(|(mode, _)| mode & 0o4000 == 0));
        let with = modes(rootfs_tar_with_setuid_helper());
        assert_eq!(with["usr/local/bin/setuid-stub"], (0o4755, 0));
    }

    #[test]
    fn the_default_tag_follows_the_binary() {
        assert!(default_tag().starts_with("berth-job-stub:"));
        assert_eq!(default_tag(), default_tag());
    }
}
