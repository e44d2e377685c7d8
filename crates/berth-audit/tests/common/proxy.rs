//! A unix-socket proxy in front of the engine socket that a test can break on purpose:
//! cut the event stream or every open connection, add latency to every request, drop
//! removal requests before they reach the engine, or go away entirely (nothing listens)
//! and come back. Also: hang (accept and read requests, never answer), slow headers (hold
//! every answer back), and cut one request after the engine received it and before its
//! answer (mid-create, mid-start, mid-stop).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct State {
    upstream: PathBuf,
    /// Added before each chunk the client sends is forwarded (≈ per request).
    delay_ms: AtomicU64,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    /// Bumped to cut the connections that carry an event stream.
    cut_events: watch::Sender<u64>,
    /// While set, a connection whose request is a `DELETE` is closed before it is sent.
    drop_deletes: std::sync::atomic::AtomicBool,
    deletes_dropped: AtomicUsize,
    events_open: AtomicUsize,
    open: AtomicUsize,
    accepted: AtomicUsize,
    /// While set, requests are read and never forwarded or answered.
    hang: std::sync::atomic::AtomicBool,
    requests_hung: AtomicUsize,
    /// Added before the first bytes of each answer (the headers) reach the client.
    answer_delay_ms: AtomicU64,
    /// The next request whose first line matches is sent to the engine, and its connection
    /// cut before the answer comes back.
    cut_after: Mutex<Option<RequestMatch>>,
    cuts_after: AtomicUsize,
}

/// A request line to cut after: the method and a fragment of the path.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    pub method: &'static str,
    pub path_contains: &'static str,
}

impl RequestMatch {
    /// `POST /containers/create`.
    pub const CREATE: RequestMatch = RequestMatch {
        method: "POST",
        path_contains: "/containers/create",
    };
    /// `POST /containers/{id}/start`.
    pub const START: RequestMatch = RequestMatch {
        method: "POST",
        path_contains: "/start",
    };
    /// `POST /containers/{id}/stop`.
    pub const STOP: RequestMatch = RequestMatch {
        method: "POST",
        path_contains: "/stop",
    };
    /// `POST /containers/{id}/kill`.
    pub const KILL: RequestMatch = RequestMatch {
        method: "POST",
        path_contains: "/kill",
    };

    fn matches(&self, chunk: &[u8]) -> bool {
        let line = chunk.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        parts.next() == Some(self.method)
            && parts.next().is_some_and(|path| {
                path.split('?')
                    .next()
                    .unwrap_or_default()
                    .contains(self.path_contains)
            })
    }
}

pub struct EngineProxy {
    path: PathBuf,
    state: Arc<State>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl EngineProxy {
    /// A proxy listening at `path`, forwarding to the engine socket `upstream`.
    pub fn start(path: &Path, upstream: &Path) -> Self {
        let proxy = Self {
            path: path.to_path_buf(),
            state: Arc::new(State {
                upstream: upstream.to_path_buf(),
                delay_ms: AtomicU64::new(0),
                cut: watch::Sender::new(0),
                cut_events: watch::Sender::new(0),
                drop_deletes: std::sync::atomic::AtomicBool::new(false),
                deletes_dropped: AtomicUsize::new(0),
                events_open: AtomicUsize::new(0),
                open: AtomicUsize::new(0),
                accepted: AtomicUsize::new(0),
                hang: std::sync::atomic::AtomicBool::new(false),
                requests_hung: AtomicUsize::new(0),
                answer_delay_ms: AtomicU64::new(0),
                cut_after: Mutex::new(None),
                cuts_after: AtomicUsize::new(0),
            }),
            acceptor: Mutex::new(None),
        };
        proxy.up();
        proxy
    }

    /// `unix://<path>`, for `DockerRuntime::connect`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Closes every open connection at once; returns how many were open.
    pub fn cut_all(&self) -> usize {
        let open = self.open_connections();
        self.state.cut.send_modify(|g| *g += 1);
        open
    }

    /// Closes the connections that carry an event stream; returns how many were open.
    pub fn cut_event_streams(&self) -> usize {
        let open = self.state.events_open.load(Ordering::SeqCst);
        self.state.cut_events.send_modify(|g| *g += 1);
        open
    }

    /// While on, every `DELETE` request (container removal) is dropped with its connection
    /// before the engine sees it.
    pub fn drop_deletes(&self, on: bool) {
        self.state.drop_deletes.store(on, Ordering::SeqCst);
    }

    pub fn deletes_dropped(&self) -> usize {
        self.state.deletes_dropped.load(Ordering::SeqCst)
    }

    /// While on, the proxy accepts connections and reads requests but never forwards or
    /// answers them: an engine that hangs. Turning it off answers nothing that was held;
    /// later requests go through.
    pub fn hang(&self, on: bool) {
        self.state.hang.store(on, Ordering::SeqCst);
    }

    /// Requests swallowed by [`Self::hang`].
    pub fn requests_hung(&self) -> usize {
        self.state.requests_hung.load(Ordering::SeqCst)
    }

    /// Holds the first bytes of every answer (its headers) back this long: slow headers.
    pub fn set_answer_delay(&self, delay: Duration) {
        self.state
            .answer_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The next request matching `m` reaches the engine; its connection is cut before the
    /// answer comes back.
    pub fn cut_after_next(&self, m: RequestMatch) {
        *self.state.cut_after.lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
    }

    /// How many requests were cut after the engine got them.
    pub fn cuts_after(&self) -> usize {
        self.state.cuts_after.load(Ordering::SeqCst)
    }

    /// Stops listening (the socket file goes) and cuts every connection.
    pub fn down(&self) {
        if let Some(task) = self.acceptor.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
        self.cut_all();
    }

    /// Listens again (a no-op when listening).
    pub fn up(&self) {
        let mut slot = self.acceptor.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path)
            .unwrap_or_else(|e| panic!("proxy: bind {}: {e}", self.path.display()));
        let state = self.state.clone();
        *slot = Some(tokio::spawn(accept(listener, state)));
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.down();
    }
}

async fn accept(listener: UnixListener, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                state.accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(forward(client, state.clone()));
            }
            Err(e) => {
                eprintln!("proxy: accept: {e}");
                return;
            }
        }
    }
}

async fn forward(client: UnixStream, state: Arc<State>) {
    let mut cut = state.cut.subscribe();
    let mut cut_events = state.cut_events.subscribe();
    let is_events = std::sync::atomic::AtomicBool::new(false);
    // Set once a request is to be cut after the engine got it: its answer is dropped.
    let mute = std::sync::atomic::AtomicBool::new(false);
    let Ok(engine) = UnixStream::connect(&state.upstream).await else {
        return;
    };
    state.open.fetch_add(1, Ordering::SeqCst);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut engine_rx, mut engine_tx) = engine.into_split();
    let requests = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let events_request = chunk.starts_with(b"GET ") && chunk.windows(8).any(|w| w == b"/events?");
            if events_request && !is_events.swap(true, Ordering::SeqCst) {
                state.events_open.fetch_add(1, Ordering::SeqCst);
            }
            if chunk.starts_with(b"DELETE ") && state.drop_deletes.load(Ordering::SeqCst) {
                state.deletes_dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if state.hang.load(Ordering::SeqCst) {
                // Read, never answered: this connection stays silent until it is cut.
                state.requests_hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }
            let cut_after = {
                let mut slot = state.cut_after.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(m) if m.matches(chunk) => slot.take().is_some(),
                    _ => false,
                }
            };
            let delay = state.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if cut_after {
                mute.store(true, Ordering::SeqCst);
            }
            if engine_tx.write_all(&buf[..n]).await.is_err() {
                return;
            }
            if cut_after {
                // Let the engine act on it, then lose the answer with the connection.
                tokio::time::sleep(Duration::from_millis(300)).await;
                state.cuts_after.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    };
    let answers = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match engine_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if mute.load(Ordering::SeqCst) {
                continue;
            }
            let delay = state.answer_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if client_tx.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Either direction ending, or a cut, closes both sides.
    tokio::select! {
        _ = requests => {}
        _ = answers => {}
        _ = cut.changed() => {}
        _ = async {
            // Only an event stream answers this cut.
            while cut_events.changed().await.is_ok() {
                if is_events.load(Ordering::SeqCst) {
                    return;
                }
            }
            std::future::pending::<()>().await
        } => {}
    }
    if is_events.load(Ordering::SeqCst) {
        state.events_open.fetch_sub(1, Ordering::SeqCst);
    }
    state.open.fetch_sub(1, Ordering::SeqCst);
}
