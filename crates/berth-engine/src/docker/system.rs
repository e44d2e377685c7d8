//! System: version negotiation, ping, and what a Podman service says of its host.

use super::connection::{map_error, Endpoint};
use super::{json_str, DockerRuntime};
use crate::runtime::{EngineError, EngineInfo, EngineResult};
use bollard::errors::Error as BollardError;
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};

/// The oldest Engine API berth speaks (Docker 20.10).
pub const MIN_API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

impl DockerRuntime {
    /// For a Podman service: whether it runs rootless, and its cgroup version (`v1`, `v2`),
    /// from Podman's own `/libpod/info`. `None` for Docker.
    pub async fn podman_host(&self) -> EngineResult<Option<PodmanHost>> {
        let (_, info) = self.negotiated().await?;
        if !matches!(info.family(), crate::dialect::EngineFamily::Podman { .. }) {
            return Ok(None);
        }
        let answer = self.get_json("/libpod/info").await?;
        Ok(Some(PodmanHost {
            rootless: answer
                .pointer("/host/security/rootless")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            cgroup_version: json_str(&answer, "/host/cgroupVersion"),
        }))
    }
}

/// What a Podman service says of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodmanHost {
    pub rootless: bool,
    /// `v1` or `v2`.
    pub cgroup_version: String,
}

/// Asks the engine its version with the oldest supported API in the path, checks it, and
/// returns a client speaking `min(engine, bollard's newest)`.
pub(super) async fn negotiate(endpoint: &Endpoint) -> EngineResult<(Docker, EngineInfo)> {
    let probe = endpoint
        .client(&MIN_API_VERSION)
        .map_err(|e| map_error(e, endpoint))?;
    let version = probe.version().await.map_err(|e| match e {
        // An engine older than 1.41 refuses the probe: "client version 1.41 is too new.
        // Maximum supported API version is 1.40".
        BollardError::DockerResponseServerError {
            status_code: 400,
            ref message,
        } if message.contains("too new") => EngineError::TooOld {
            found: message.rsplit(' ').next().unwrap_or("unknown").to_string(),
            minimum: MIN_API_VERSION.to_string(),
        },
        other => map_error(other, endpoint),
    })?;
    let found = version.api_version.clone().unwrap_or_default();
    let engine_api = parse_api_version(&found).ok_or_else(|| EngineError::Api {
        status: 0,
        message: format!(
            "the engine at {} reported an unreadable API version {found:?}",
            endpoint.describe()
        ),
    })?;
    if engine_api < MIN_API_VERSION {
        return Err(EngineError::TooOld {
            found,
            minimum: MIN_API_VERSION.to_string(),
        });
    }
    let speak = if engine_api < *API_DEFAULT_VERSION {
        engine_api
    } else {
        *API_DEFAULT_VERSION
    };
    let docker = endpoint.client(&speak).map_err(|e| map_error(e, endpoint))?;
    let info = engine_info(&version, &speak);
    Ok((docker, info))
}

fn parse_api_version(s: &str) -> Option<ClientVersion> {
    let (major, minor) = s.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

fn engine_info(version: &bollard::models::SystemVersion, speak: &ClientVersion) -> EngineInfo {
    let components = version.components.as_deref().unwrap_or_default();
    let platform_name = version
        .platform
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let platform = if let Some(podman) = components.iter().find(|c| c.name.contains("Podman")) {
        podman.name.clone()
    } else if !platform_name.trim().is_empty() {
        platform_name
    } else {
        "Docker Engine".to_string()
    };
    EngineInfo {
        api_version: speak.to_string(),
        engine_version: version.version.clone().unwrap_or_default(),
        platform,
    }
}

/// `ContainerRuntime::ping`.
pub(super) async fn ping(rt: &DockerRuntime) -> EngineResult<EngineInfo> {
    // Negotiate afresh each time: ping is how callers check the engine is (still) there.
    let (docker, info) = negotiate(&rt.inner.endpoint).await?;
    docker.ping().await.map_err(|e| rt.err(e))?;
    let _ = rt.inner.client.set((docker, info.clone()));
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare() {
        let v = parse_api_version("1.40").unwrap();
        assert!(v < MIN_API_VERSION);
        assert!(parse_api_version("1.41").unwrap() >= MIN_API_VERSION);
        assert!(parse_api_version("1.5").unwrap() < MIN_API_VERSION);
        assert!(parse_api_version("x").is_none());
    }
}
