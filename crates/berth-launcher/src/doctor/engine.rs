//! The engine: reachable and from where, its API version, the site's network and the
//! images the site's studies name.

use super::{Checklist, ENGINE, IMAGES};
use crate::Site;
use berth_core::study::SiteStudies;
use berth_engine::deadline::{DeadlineRuntime, DEFAULT_ENGINE_TIMEOUT};
use berth_engine::docker::{DockerRuntime, DEFAULT_SOCKET};
use berth_engine::{ContainerRuntime, EngineError, EngineResult};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// The engine, once reached: its client, the same client under the site's deadline, and a
/// runtime to ask it on.
pub(super) struct Engine {
    rt: tokio::runtime::Runtime,
    pub(super) docker: DockerRuntime,
    /// Every request goes through it: the site's `engine_timeout` on each.
    pub(super) runtime: DeadlineRuntime,
}

impl Engine {
    /// A request of the runtime trait (made on [`Self::runtime`]), answered.
    pub(super) fn ask<T>(&self, request: impl Future<Output = EngineResult<T>>) -> EngineResult<T> {
        self.rt.block_on(request)
    }

    /// One of the Docker runtime's own calls (on [`Self::docker`]), under the same deadline.
    pub(super) fn admin<T>(
        &self,
        what: &str,
        request: impl Future<Output = EngineResult<T>>,
    ) -> EngineResult<T> {
        self.rt.block_on(self.runtime.within(what, request))
    }
}

fn engine_origin() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => format!("from DOCKER_HOST={h}"),
        _ => "the default socket; DOCKER_HOST is not set".to_string(),
    }
}

pub(super) fn unreachable_fix() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => format!(
            "DOCKER_HOST={h} does not lead to a running engine: set it to the engine's socket \
             (e.g. unix://{DEFAULT_SOCKET}, or Podman's Docker-compatible socket), or unset it to use {DEFAULT_SOCKET}"
        ),
        _ if Path::new(DEFAULT_SOCKET).exists() => format!(
            "{DEFAULT_SOCKET} exists but no engine answered: start the engine (systemctl start docker) \
             and make sure this user may use the socket (the docker group)"
        ),
        _ => format!(
            "no engine socket at {DEFAULT_SOCKET}: start the engine (systemctl start docker), or set \
             DOCKER_HOST to its socket (Podman: its Docker-compatible socket)"
        ),
    }
}

/// Engine reachable, and from where; API version at least 1.41. Each request has the
/// site's `engine_timeout` (the default one when the config did not load).
pub(super) fn check_engine(list: &mut Checklist, site: Option<&Site>) -> Option<Engine> {
    let origin = engine_origin();
    let docker = match DockerRuntime::from_env() {
        Ok(d) => d,
        Err(e) => {
            list.fail(
                "engine",
                ENGINE,
                format!("cannot use the engine address ({origin}): {e}"),
                unreachable_fix(),
            );
            list.skip("api_version", ENGINE, "API version: engine not reachable".into());
            return None;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            list.fail(
                "engine",
                ENGINE,
                format!("cannot start a runtime to ask the engine: {e}"),
                "check the process limits (threads, open files)".into(),
            );
            return None;
        }
    };
    let deadline = site
        .and_then(|s| s.settings().ok())
        .map_or(DEFAULT_ENGINE_TIMEOUT, |s| s.engine_timeout);
    let runtime = DeadlineRuntime::new(Arc::new(docker.clone()), deadline);
    let engine = Engine { rt, docker, runtime };
    let endpoint = engine.docker.endpoint();
    let reachable = format!("engine reachable at {endpoint} ({origin})");
    match engine.ask(engine.runtime.ping()) {
        Ok(info) => {
            list.pass("engine", ENGINE, reachable);
            list.pass(
                "api_version",
                ENGINE,
                format!(
                    "API {} ({} {}); berth needs 1.41 or newer",
                    info.api_version, info.platform, info.engine_version
                ),
            );
            Some(engine)
        }
        Err(EngineError::TooOld { found, minimum }) => {
            list.pass("engine", ENGINE, reachable);
            list.fail(
                "api_version",
                ENGINE,
                format!("engine API {found} is older than {minimum}"),
                "upgrade the engine to Docker 20.10 (API 1.41) or newer, or use Podman 4 or newer".into(),
            );
            None
        }
        Err(e) => {
            let detail = match &e {
                EngineError::Unreachable(why) => why.clone(),
                other => other.to_string(),
            };
            list.fail(
                "engine",
                ENGINE,
                format!("cannot reach the engine at {endpoint} ({origin}): {detail}"),
                unreachable_fix(),
            );
            list.skip("api_version", ENGINE, "API version: engine not reachable".into());
            None
        }
    }
}

pub(super) fn check_network(list: &mut Checklist, site: Option<&Site>, engine: Option<&Engine>) {
    let Some(site) = list.site_or_skip(site, "network", ENGINE, "site network") else {
        return;
    };
    let name = &site.config.network;
    let Some(engine) = engine else {
        list.skip(
            "network",
            ENGINE,
            format!("network '{name}': engine not reachable"),
        );
        return;
    };
    match engine.ask(engine.runtime.network_exists(name)) {
        Ok(true) => list.pass("network", ENGINE, format!("network '{name}' exists")),
        Ok(false) => list.fail(
            "network",
            ENGINE,
            format!("network '{name}' does not exist; every launch would be refused"),
            format!("docker network create {name}"),
        ),
        Err(e) => list.fail(
            "network",
            ENGINE,
            format!("cannot look up network '{name}': {e}"),
            unreachable_fix(),
        ),
    }
}

/// Images named by the study runtime (a site config cannot name one: `image` is a
/// launcher-owned key), present locally.
pub(super) fn check_images(
    list: &mut Checklist,
    site: Option<&Site>,
    engine: Option<&Engine>,
    studies: Option<&SiteStudies>,
) {
    let (Some(site), Some(studies)) = (site, studies) else {
        list.skip(
            "images",
            IMAGES,
            "images: the study files could not be read".into(),
        );
        return;
    };
    let mut images: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(rt) = &studies.runtime {
        for (name, s) in &rt.studies {
            if let Some(image) = &s.image {
                match images.iter_mut().find(|(i, _)| i == image) {
                    Some((_, users)) => users.push(name.clone()),
                    None => images.push((image.clone(), vec![name.clone()])),
                }
            }
        }
    }
    if images.is_empty() {
        list.pass(
            "images",
            IMAGES,
            "no images named by the site's study runtime; jobs name theirs in meta.json".into(),
        );
        return;
    }
    let Some(engine) = engine else {
        list.skip("images", IMAGES, "images: engine not reachable".into());
        return;
    };
    for (image, users) in images {
        let used_by = format!("study {}", users.join(", "));
        match engine.ask(engine.runtime.image_exists(&image)) {
            Ok(true) => list.pass("images", IMAGES, format!("image {image} present ({used_by})")),
            Ok(false) if site.config.pull_missing_images => list.warn(
                "images",
                IMAGES,
                format!("image {image} ({used_by}) is not present"),
                "pull_missing_images is on: the first launch pulls it".into(),
            ),
            Ok(false) => list.fail(
                "images",
                IMAGES,
                format!("image {image} ({used_by}) is not present; launches would be refused"),
                format!(
                    "berth does not pull images: load it on this host (docker load -i <file>, or \
                     docker import <rootfs.tar> {image}), or set \"pull_missing_images\": true in the launcher args"
                ),
            ),
            Err(e) => list.fail("images", IMAGES, format!("cannot look up image {image}: {e}"), unreachable_fix()),
        }
    }
}
