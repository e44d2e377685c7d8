//! Plain HTTP requests to the Engine API on one pooled connection, outside bollard.
//!
//! bollard opens a new connection for every request on a unix socket; the launch's hot
//! requests (create, start, inspect, stop, remove, list) go through [`RawClient`] instead,
//! which keeps idle connections for the next request, sends the create body exactly as
//! planned and decodes answers straight into the fields berth reads.
//!
//! bollard also reads container states into a closed list (`created`, `running`,
//! `exited`, ...). Podman also answers `stopped` (the process has ended, Podman has not
//! cleaned up yet) and `configured`, and bollard then fails the whole inspect or list.
//! berth maps the state itself ([`engine_status`]).

use crate::runtime::{EngineError, EngineResult};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One connection pool per runtime, to the same address bollard uses. Requests have no
/// timeout of their own: callers wrap them in the configured deadlines.
pub(crate) struct RawClient {
    transport: Transport,
    /// The address as the user gave it (`unix:///path`, `tcp://host:port`), for messages.
    describe: String,
}

enum Transport {
    Unix {
        client: Client<UnixConnector, Full<Bytes>>,
        socket: String,
    },
    Http {
        client: Client<HttpConnector, Full<Bytes>>,
        /// `http://host:port`, without a trailing slash.
        base: String,
    },
}

/// Idle connections kept for reuse. Sequential launches reuse one; after a burst, a few
/// stay and the rest are closed. The same figure as the launcher's default limit of creates
/// and starts at once (`LauncherSettings::max_starting`), but independent of it: a site that
/// raises that limit only opens more connections during the burst.
const IDLE_CONNECTIONS: usize = 8;

/// How long an idle connection is kept. Short, so a reused connection does not meet an
/// engine that has closed it meanwhile (a socket-activated Podman service exits after 5 s
/// idle by default).
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

fn pool() -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(hyper_util::rt::TokioTimer::new());
    builder
}

impl RawClient {
    /// The engine at the unix socket `socket`; `describe` names it in errors.
    pub(crate) fn unix(socket: &str, describe: String) -> Self {
        RawClient {
            transport: Transport::Unix {
                client: pool().build(UnixConnector),
                socket: socket.to_string(),
            },
            describe,
        }
    }

    /// `tcp://` is plain HTTP, as bollard reads it; `describe` names it in errors.
    pub(crate) fn http(url: &str, describe: String) -> Self {
        let base = url
            .replacen("tcp://", "http://", 1)
            .trim_end_matches('/')
            .to_string();
        RawClient {
            transport: Transport::Http {
                client: pool().build_http(),
                base,
            },
            describe,
        }
    }

    /// `GET <path_and_query>` (starting with `/v1.xx/`), the answer decoded as `T`; fields
    /// of the answer that `T` does not name are skipped, not kept.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> EngineResult<T> {
        let body = self.send(Method::GET, path_and_query, Bytes::new()).await?;
        decode(&body, &Method::GET, path_and_query)
    }

    /// `GET <path_and_query>`, the whole answer as JSON.
    pub(crate) async fn get_json(&self, path_and_query: &str) -> EngineResult<Value> {
        self.get(path_and_query).await
    }

    /// `method <path_and_query>` with `body` as the JSON request body (empty for none); the
    /// answer's body. 2xx and 304 (already in the requested state) are answers, as bollard
    /// reads them; any other status is an error ([`answer_error`]). A failure to send or to
    /// read the answer is `Unreachable`, naming the address.
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Bytes,
    ) -> EngineResult<Bytes> {
        let unreachable = |e: &dyn std::error::Error| match &self.transport {
            Transport::Unix { socket, .. } if !std::path::Path::new(socket).exists() => {
                no_engine_socket(socket, &self.describe)
            }
            _ => EngineError::Unreachable(format!("{}: {}", self.describe, error_chain(e))),
        };
        let request = |uri: hyper::Uri| {
            Request::builder()
                .method(method.clone())
                .uri(uri)
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| unreachable(&e))
        };
        let answer = match &self.transport {
            Transport::Unix { client, socket } => {
                let uri: hyper::Uri = hyperlocal::Uri::new(socket, path_and_query).into();
                client.request(request(uri)?).await
            }
            Transport::Http { client, base } => {
                let uri: hyper::Uri = format!("{base}{path_and_query}")
                    .parse()
                    .map_err(|e| unreachable(&e))?;
                client.request(request(uri)?).await
            }
        }
        .map_err(|e| unreachable(&e))?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            Ok(body)
        } else {
            Err(answer_error(status.as_u16(), &body))
        }
    }
}

/// An answer's body decoded as `T`, or an error naming the request.
pub(crate) fn decode<T: DeserializeOwned>(
    body: &[u8],
    method: &Method,
    path_and_query: &str,
) -> EngineResult<T> {
    serde_json::from_slice(body).map_err(|e| EngineError::Api {
        status: 0,
        message: format!("the engine's answer to {method} {path_and_query} cannot be read: {e}"),
    })
}

/// The error for an engine answer other than 2xx or 304, with the engine's `message` (or the
/// whole body when it has none).
pub(crate) fn answer_error(status: u16, body: &[u8]) -> EngineError {
    #[derive(serde::Deserialize)]
    struct ErrorAnswer {
        message: String,
    }
    let message = serde_json::from_slice::<ErrorAnswer>(body)
        .map(|answer| answer.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
    status_error(status, message)
}

/// The one mapping of engine answer statuses onto berth's errors: 404, 304 and 409 are
/// answers the lifecycle acts on, the rest are failures with the engine's message. (A
/// kill's 409 "is not running" is then read as success by the kill itself, as a stop's
/// 304 is.)
pub(crate) fn status_error(status: u16, message: String) -> EngineError {
    match status {
        404 => EngineError::NotFound(message),
        304 => EngineError::NotModified,
        409 => EngineError::Conflict(message),
        // Podman answers a taken container name with 500 (Docker: 409).
        500 if message.contains("is already in use") => EngineError::Conflict(message),
        status => EngineError::Api { status, message },
    }
}

/// An error with its causes, each once (hyper's own message alone says only "client error").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// No socket at `path`: what to check, in one wording for every client.
pub(crate) fn no_engine_socket(path: &str, tried: &str) -> EngineError {
    EngineError::Unreachable(format!(
        "no engine socket at {path} (tried {tried}); is Docker running? set DOCKER_HOST to another socket"
    ))
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

    #[test]
    fn answers_map_to_errors_with_the_engines_message() {
        assert_eq!(
            answer_error(404, br#"{"message":"No such container: c"}"#),
            EngineError::NotFound("No such container: c".into())
        );
        assert_eq!(
            answer_error(409, br#"{"message":"name in use"}"#),
            EngineError::Conflict("name in use".into())
        );
        assert_eq!(
            answer_error(500, b"  plain text\n"),
            EngineError::Api {
                status: 500,
                message: "plain text".into()
            }
        );
        assert_eq!(
            answer_error(400, br#"{"cause":"x"}"#),
            EngineError::Api {
                status: 400,
                message: r#"{"cause":"x"}"#.into()
            }
        );
        assert_eq!(answer_error(304, b""), EngineError::NotModified);
    }

    #[test]
    fn podman_name_conflicts_are_conflicts() {
        let taken = br#"{"cause":"that name is already in use","message":"creating container storage: the container name \"c\" is already in use by 3f2","response":500}"#;
        assert!(
            matches!(answer_error(500, taken), EngineError::Conflict(m) if m.contains("already in use by 3f2"))
        );
    }

    #[test]
    fn unreadable_answers_name_the_request() {
        let err = decode::<Value>(b"<html>", &Method::GET, "/v1.41/containers/c/json").unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message } if message.contains("GET /v1.41/containers/c/json")),
            "{err}"
        );
    }

    /// A one-connection engine on a unix socket: answers each request with the next canned
    /// answer and reports what it received (request head and body).
    struct CannedEngine {
        socket: std::path::PathBuf,
        received: tokio::sync::mpsc::UnboundedReceiver<String>,
        _dir: TempDir,
    }

    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl CannedEngine {
        fn start(answers: &[(u16, &str)]) -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let dir = std::env::temp_dir().join(format!(
                "berth-raw-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = dir.join("engine.sock");
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let (tx, received) = tokio::sync::mpsc::unbounded_channel();
            let answers: Vec<(u16, String)> = answers.iter().map(|(s, b)| (*s, b.to_string())).collect();
            tokio::spawn(async move {
                // One connection only: a second one would wait forever, so reuse is tested too.
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                for (status, body) in answers {
                    let request = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                let body =
                                    String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                                buf.drain(..end + 4 + length);
                                break format!("{head}\n\n{body}");
                            }
                        }
                        let mut chunk = [0u8; 4096];
                        let n = conn.read(&mut chunk).await.unwrap();
                        assert!(n > 0, "the client closed the connection");
                        buf.extend_from_slice(&chunk[..n]);
                    };
                    tx.send(request).unwrap();
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    conn.write_all(reply.as_bytes()).await.unwrap();
                }
            });
            CannedEngine {
                socket,
                received,
                _dir: TempDir(dir),
            }
        }
    }

    #[tokio::test]
    async fn requests_share_one_connection_and_read_answers_as_bollard_did() {
        let mut engine = CannedEngine::start(&[
            (201, r#"{"Id":"3f2a","Warnings":[]}"#),
            (304, ""),
            (404, r#"{"message":"No such container: gone"}"#),
            (200, r#"{"Id":"3f2a","State":{"Status":"running"}}"#),
        ]);
        let socket = engine.socket.to_str().unwrap().to_string();
        let client = RawClient::unix(&socket, format!("unix://{socket}"));
        // A second connection would get no answer: bound the test instead of hanging.
        tokio::time::timeout(std::time::Duration::from_secs(10), async move {
            let created = client
                .send(
                    Method::POST,
                    "/v1.41/containers/create?name=j",
                    Bytes::from_static(br#"{"Image":"i"}"#),
                )
                .await
                .unwrap();
            assert_eq!(&created[..], br#"{"Id":"3f2a","Warnings":[]}"#);
            let request = engine.received.recv().await.unwrap();
            assert!(
                request.starts_with("POST /v1.41/containers/create?name=j HTTP/1.1"),
                "{request}"
            );
            assert!(
                request
                    .to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{request}"
            );
            assert!(request.ends_with("\n\n{\"Image\":\"i\"}"), "{request}");

            // 304: the container was not running; no error.
            client
                .send(Method::POST, "/v1.41/containers/3f2a/stop?t=0", Bytes::new())
                .await
                .unwrap();
            let request = engine.received.recv().await.unwrap();
            assert!(
                request.starts_with("POST /v1.41/containers/3f2a/stop?t=0 "),
                "{request}"
            );

            let err = client
                .send(
                    Method::DELETE,
                    "/v1.41/containers/gone?force=true&v=true",
                    Bytes::new(),
                )
                .await
                .unwrap_err();
            assert_eq!(err, EngineError::NotFound("No such container: gone".into()));
            let request = engine.received.recv().await.unwrap();
            assert!(
                request.starts_with("DELETE /v1.41/containers/gone?force=true&v=true "),
                "{request}"
            );

            let answer: Value = client.get_json("/v1.41/containers/3f2a/json").await.unwrap();
            assert_eq!(answer["State"]["Status"], "running");
        })
        .await
        .expect("no answer within 10 s: did the client open a second connection?");
    }

    #[tokio::test]
    async fn a_missing_socket_is_unreachable_and_named() {
        let client = RawClient::unix(
            "/nonexistent/berth-raw.sock",
            "unix:///nonexistent/berth-raw.sock".to_string(),
        );
        let err = client
            .send(Method::POST, "/v1.41/containers/c/start", Bytes::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::Unreachable(m)
                if m.contains("unix:///nonexistent/berth-raw.sock") && m.contains("is Docker running?")),
            "{err}"
        );
    }
}
