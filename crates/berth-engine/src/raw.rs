//! Plain JSON reads of the Engine API, for answers bollard's models cannot hold.
//!
//! bollard reads container states into a closed list (`created`, `running`, `exited`, ...).
//! Podman also answers `stopped` (the process has ended, Podman has not cleaned up yet) and
//! `configured`, and bollard then fails the whole inspect or list. berth reads those answers
//! as JSON instead and maps the state itself ([`engine_status`]).

use crate::runtime::{EngineError, EngineResult};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use serde_json::Value;

/// One connection pool per runtime, to the same address bollard uses.
pub(crate) enum RawClient {
    Unix {
        client: Client<UnixConnector, Empty<Bytes>>,
        socket: String,
    },
    Http {
        client: Client<HttpConnector, Empty<Bytes>>,
        /// `http://host:port`, without a trailing slash.
        base: String,
    },
}

impl RawClient {
    pub(crate) fn unix(socket: &str) -> Self {
        RawClient::Unix {
            client: Client::builder(TokioExecutor::new()).build(UnixConnector),
            socket: socket.to_string(),
        }
    }

    /// `tcp://` is plain HTTP, as bollard reads it.
    pub(crate) fn http(url: &str) -> Self {
        let base = url
            .replacen("tcp://", "http://", 1)
            .trim_end_matches('/')
            .to_string();
        RawClient::Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    /// `GET <path_and_query>` (starting with `/v1.xx/`), the answer as JSON. Engine answers
    /// other than 2xx become the same errors bollard's would: 404 `NotFound`, 409
    /// `Conflict`, others `Api`, with the engine's `message`. `describe` names the address
    /// in transport errors.
    pub(crate) async fn get_json(&self, path_and_query: &str, describe: &str) -> EngineResult<Value> {
        let unreachable = |e: &dyn std::fmt::Display| EngineError::Unreachable(format!("{describe}: {e}"));
        let answer = match self {
            RawClient::Unix { client, socket } => {
                let uri: hyper::Uri = hyperlocal::Uri::new(socket, path_and_query).into();
                client.get(uri).await
            }
            RawClient::Http { client, base } => {
                let uri: hyper::Uri = format!("{base}{path_and_query}")
                    .parse()
                    .map_err(|e| unreachable(&e))?;
                client.get(uri).await
            }
        }
        .map_err(|e| unreachable(&e))?;
        let status = answer.status().as_u16();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| EngineError::Api {
                status: 0,
                message: format!("the engine's answer to GET {path_and_query} is not JSON: {e}"),
            });
        }
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        Err(match status {
            404 => EngineError::NotFound(message),
            409 => EngineError::Conflict(message),
            status => EngineError::Api { status, message },
        })
    }
}

/// A container state in Docker's words. Podman's `stopped` (exited, not yet cleaned up) is
/// `exited`: its exit code is final. `configured` (Podman's state before `created`) is
/// `created`. Anything else is passed on as the engine said it.
pub fn engine_status(status: &str) -> String {
    match status {
        "stopped" => "exited".to_string(),
        "configured" => "created".to_string(),
        other => other.to_string(),
    }
}

/// Percent-encodes a query value (filters are JSON).
pub(crate) fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Container ids and names in a path: everything but unreserved characters encoded.
pub(crate) fn path_segment(value: &str) -> String {
    query_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_states_read_as_docker_ones() {
        assert_eq!(engine_status("stopped"), "exited");
        assert_eq!(engine_status("configured"), "created");
        for same in [
            "created", "running", "exited", "dead", "paused", "removing", "stopping",
        ] {
            assert_eq!(engine_status(same), same);
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query_value(r#"{"label":["a=b c"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D"
        );
        assert_eq!(path_segment("berth-job_1.x"), "berth-job_1.x");
        assert_eq!(path_segment("a/../b"), "a%2F..%2Fb");
    }
}
