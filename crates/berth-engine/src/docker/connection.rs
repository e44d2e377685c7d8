//! Where the engine listens, and how bollard's errors become berth's.

use crate::raw::{error_chain, status_error};
use crate::runtime::{EngineError, EngineResult};
use bollard::errors::Error as BollardError;
use bollard::{ClientVersion, Docker};

/// A ceiling on how long one request may wait for the engine's answer headers. It is not a
/// deadline: callers wrap calls in `tokio::time::timeout` with configured values. It only
/// keeps bollard's 2-minute default from cutting a long `stop` grace period short.
const REQUEST_CEILING_SECS: u64 = 24 * 60 * 60;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// A unix socket path (without `unix://`).
    Unix(String),
    /// `tcp://host:port` or `http://host:port`, plain HTTP.
    Http(String),
}

impl Endpoint {
    pub(super) fn parse(socket_or_url: &str) -> EngineResult<Self> {
        let s = socket_or_url.trim();
        if let Some(path) = s.strip_prefix("unix://") {
            Ok(Endpoint::Unix(path.to_string()))
        } else if s.starts_with('/') {
            Ok(Endpoint::Unix(s.to_string()))
        } else if s.starts_with("tcp://") || s.starts_with("http://") {
            Ok(Endpoint::Http(s.to_string()))
        } else {
            Err(EngineError::Unreachable(format!(
                "unsupported engine address {s:?}: berth speaks to a unix socket (unix:///path or /path) \
                 or plain HTTP (tcp://host:port); TLS and ssh are not supported"
            )))
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Endpoint::Unix(path) => format!("unix://{path}"),
            Endpoint::Http(url) => url.clone(),
        }
    }

    pub(super) fn client(&self, version: &ClientVersion) -> Result<Docker, BollardError> {
        let docker = match self {
            Endpoint::Unix(path) => Docker::connect_with_unix(path, REQUEST_CEILING_SECS, version)?,
            Endpoint::Http(url) => Docker::connect_with_http(url, REQUEST_CEILING_SECS, version)?,
        };
        Ok(docker)
    }
}

/// Maps bollard's errors onto berth's: the engine's answers as [`status_error`] reads them,
/// transport failures saying which address was tried.
pub(super) fn map_error(e: BollardError, endpoint: &Endpoint) -> EngineError {
    match e {
        BollardError::DockerResponseServerError { status_code, message } => {
            status_error(status_code, message)
        }
        BollardError::SocketNotFoundError(path) => crate::raw::no_engine_socket(&path, &endpoint.describe()),
        BollardError::RequestTimeoutError => {
            EngineError::Unreachable(format!("{} did not answer in time", endpoint.describe()))
        }
        e @ (BollardError::HyperLegacyError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::IOError { .. }) => {
            EngineError::Unreachable(format!("{}: {}", endpoint.describe(), error_chain(&e)))
        }
        other => EngineError::Api {
            status: 0,
            message: error_chain(&other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock").unwrap(),
            Endpoint::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("/x.sock").unwrap(),
            Endpoint::Unix("/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:2375").unwrap(),
            Endpoint::Http("tcp://10.0.0.1:2375".into())
        );
        let err = Endpoint::parse("ssh://host").unwrap_err();
        assert!(matches!(err, EngineError::Unreachable(m) if m.contains("ssh://host")));
    }

    #[test]
    fn errors_map_to_answers() {
        let ep = Endpoint::Unix("/nowhere.sock".into());
        let server = |status_code| BollardError::DockerResponseServerError {
            status_code,
            message: "m".into(),
        };
        assert_eq!(map_error(server(404), &ep), EngineError::NotFound("m".into()));
        assert_eq!(map_error(server(304), &ep), EngineError::NotModified);
        assert_eq!(map_error(server(409), &ep), EngineError::Conflict("m".into()));
        assert_eq!(
            map_error(server(500), &ep),
            EngineError::Api {
                status: 500,
                message: "m".into()
            }
        );
        let e = map_error(BollardError::SocketNotFoundError("/nowhere.sock".into()), &ep);
        assert!(matches!(e, EngineError::Unreachable(m) if m.contains("/nowhere.sock")));
    }

    #[test]
    fn podman_name_conflicts_are_conflicts() {
        let ep = Endpoint::Unix("/p.sock".into());
        let taken = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "container create: creating container storage: the container name \"c\" is already in use by 3f2".into(),
        };
        assert!(matches!(map_error(taken, &ep), EngineError::Conflict(_)));
    }
}
