//! Support for tests that need a real engine.
//!
//! - [`unique_name`]: `berth-test-<pid>-<counter>-<random>`, so parallel tests and parallel
//!   test binaries never collide.
//! - [`Cleanup`]: remembers the containers (by name, or all of a site's), images and
//!   networks a test creates and removes them on drop, also when the test panics. Drop works
//!   inside or outside a tokio runtime.

use berth_core::labels;
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineError, LabelFilter};
use berth_stub_image::rootfs_tar;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Set to `1` to make a test that cannot run here (no engine) fail instead of being ignored.
pub const REQUIRE_ENV: &str = "BERTH_REQUIRE_DOCKER";

/// Every name [`unique_name`] makes starts with this.
pub const TEST_PREFIX: &str = "berth-test-";

/// Runs `fut` to completion on a fresh current-thread runtime, for sync tests that call the
/// engine now and then (not inside another runtime).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(fut)
}

/// `berth-test-<pid>-<counter>-<random>`, with `kind` appended (`-c`, `-net`, ...) when not
/// empty. Lower case, valid as a container, network or image repository name.
pub fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(n);
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    let random = hasher.finish() & 0xff_ffff;
    let base = format!("{TEST_PREFIX}{}-{n}-{random:06x}", std::process::id());
    if kind.is_empty() {
        base
    } else {
        format!("{base}-{kind}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Object {
    Container(String),
    /// Every container labelled with this site, whoever created it.
    SiteContainers(String),
    Image(String),
    Network(String),
}

/// Removes, on drop, every Docker object registered with it: containers first (forced),
/// then networks, then images. Objects already gone are fine.
#[derive(Debug)]
pub struct Cleanup {
    endpoint: String,
    objects: Mutex<Vec<Object>>,
}

impl Cleanup {
    pub fn new(rt: &DockerRuntime) -> Self {
        Self {
            endpoint: rt.endpoint(),
            objects: Mutex::new(Vec::new()),
        }
    }

    fn push(&self, object: Object) {
        let mut objects = self
            .objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !objects.contains(&object) {
            objects.push(object);
        }
    }

    /// Registers a container name or id; returns it.
    pub fn container(&self, name: &str) -> String {
        self.push(Object::Container(name.to_string()));
        name.to_string()
    }

    /// Registers every container labelled with site `site` (found when the guard drops).
    pub fn site_containers(&self, site: &str) {
        self.push(Object::SiteContainers(site.to_string()));
    }

    /// Registers an image tag; returns it.
    pub fn image(&self, tag: &str) -> String {
        self.push(Object::Image(tag.to_string()));
        tag.to_string()
    }

    /// Registers a network name; returns it.
    pub fn network(&self, name: &str) -> String {
        self.push(Object::Network(name.to_string()));
        name.to_string()
    }

    /// A fresh unique container name, registered.
    pub fn container_name(&self) -> String {
        self.container(&unique_name("c"))
    }

    /// Creates a network with a fresh unique name, registered; returns the name.
    pub async fn new_network(&self, rt: &DockerRuntime) -> Result<String, EngineError> {
        let name = self.network(&unique_name("net"));
        rt.create_network(&name).await?;
        Ok(name)
    }

    /// Imports the stub image under a fresh unique tag, registered; returns the tag.
    pub async fn new_stub_image(&self, rt: &DockerRuntime) -> Result<String, EngineError> {
        let tag = self.image(&format!("{}:latest", unique_name("img")));
        rt.import_image(rootfs_tar(), &tag).await?;
        Ok(tag)
    }

    /// Imports the stub image with a setuid-root copy of the stub at
    /// [`berth_stub_image::SETUID_STUB_PATH`] under a fresh unique tag, registered; returns the tag.
    pub async fn new_setuid_stub_image(&self, rt: &DockerRuntime) -> Result<String, EngineError> {
        let tag = self.image(&format!("{}:latest", unique_name("img-suid")));
        rt.import_image(berth_stub_image::rootfs_tar_with_setuid_helper(), &tag)
            .await?;
        Ok(tag)
    }

    fn take_ordered(&self) -> Vec<Object> {
        let mut objects = std::mem::take(&mut *self.objects.lock().unwrap_or_else(|p| p.into_inner()));
        objects.reverse();
        let rank = |o: &Object| match o {
            Object::Container(_) | Object::SiteContainers(_) => 0,
            Object::Network(_) => 1,
            Object::Image(_) => 2,
        };
        objects.sort_by_key(rank);
        objects
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let objects = self.take_ordered();
        if objects.is_empty() {
            return;
        }
        let endpoint = self.endpoint.clone();
        // A thread of its own: Drop may run inside a runtime, where blocking on another one
        // would panic.
        let leftovers = std::thread::spawn(move || remove_all(&endpoint, objects))
            .join()
            .unwrap_or_default();
        for object in leftovers {
            remove_with_cli(&object);
        }
    }
}

/// Removes through the engine API; returns what could not be removed that way.
fn remove_all(endpoint: &str, objects: Vec<Object>) -> Vec<Object> {
    let Ok(rt) = DockerRuntime::connect(endpoint) else {
        return objects;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return objects;
    };
    runtime.block_on(async {
        let mut left = Vec::new();
        for object in objects {
            let removal = async {
                match &object {
                    Object::Container(name) => rt.remove(name, true).await,
                    Object::SiteContainers(site) => remove_site_containers(&rt, site).await,
                    Object::Network(name) => rt.remove_network(name).await,
                    Object::Image(tag) => rt.remove_image(tag).await,
                }
            };
            match tokio::time::timeout(std::time::Duration::from_secs(60), removal).await {
                Ok(Ok(())) | Ok(Err(EngineError::NotFound(_))) => {}
                Ok(Err(e)) => {
                    eprintln!("cleanup: {object:?}: {e}");
                    left.push(object);
                }
                Err(_) => left.push(object),
            }
        }
        left
    })
}

/// Removes every container labelled with `site`; the first failure is returned after all
/// were tried.
async fn remove_site_containers(rt: &DockerRuntime, site: &str) -> Result<(), EngineError> {
    let filters = [LabelFilter::eq(labels::SITE, site)];
    let mut result = Ok(());
    for c in rt.list(&filters, true).await? {
        match rt.remove(&c.id, true).await {
            Ok(()) | Err(EngineError::NotFound(_)) => {}
            Err(e) => {
                eprintln!("cleanup: container {} of site {site}: {e}", c.name);
                result = result.and(Err(e));
            }
        }
    }
    result
}

/// The last resort: the `docker` command, when it is installed.
fn remove_with_cli(object: &Object) {
    let args: Vec<&str> = match object {
        Object::Container(name) => vec!["rm", "-f", "-v", name],
        Object::SiteContainers(site) => {
            let label = format!("label={}={site}", labels::SITE);
            let ids = std::process::Command::new("docker")
                .args(["ps", "-aq", "--filter", &label])
                .output();
            let ids = match ids {
                Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
                _ => return,
            };
            for id in ids.split_whitespace() {
                remove_with_cli(&Object::Container(id.to_string()));
            }
            return;
        }
        Object::Network(name) => vec!["network", "rm", name],
        Object::Image(tag) => vec!["rmi", "-f", tag],
    };
    match std::process::Command::new("docker").args(&args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "cleanup: docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("cleanup: could not remove {object:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let a = unique_name("c");
        let b = unique_name("c");
        assert_ne!(a, b);
        assert!(a.starts_with(TEST_PREFIX) && a.ends_with("-c"));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}
