//! One demo job on its own thread: launch, follow its output, stop it when its turn comes,
//! and report how it ended.

use super::*;

/// What every job thread shares.
pub(super) struct JobContext<'a> {
    pub(super) launcher: &'a BlockingLauncher,
    pub(super) board: &'a Arc<Board>,
    pub(super) engine_rt: &'a tokio::runtime::Runtime,
    pub(super) docker: &'a DockerRuntime,
    pub(super) layout: &'a DemoLayout,
    pub(super) containers: &'a Mutex<Vec<String>>,
    pub(super) interrupted: &'a AtomicBool,
    pub(super) train_job_id: &'a str,
    pub(super) dataset_len: u64,
}

impl JobContext<'_> {
    pub(super) fn run_job(&self, i: usize, kind: JobKind, plan: ContainerPlan) -> JobReport {
        let job_id = plan.job_id.clone();
        let container_name = plan.name.clone();
        let log_file = self.layout.log_file(kind.name());
        let started = Instant::now();
        self.board.set(i, Phase::Launching, None);
        let handle = match self.launcher.launch(plan) {
            Ok(h) => h,
            Err(e) => {
                let why = match e.hint() {
                    Some(hint) => format!("{} ({hint})", e.message()),
                    None => e.message().to_string(),
                };
                self.board.set(i, Phase::Error(why.clone()), None);
                return JobReport {
                    kind,
                    job_id,
                    container_name,
                    return_code: None,
                    exit_code: None,
                    took: started.elapsed(),
                    verdict: Verdict {
                        as_expected: false,
                        detail: format!("launch failed: {why}"),
                        output: log_file,
                    },
                    log: None,
                };
            }
        };
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle.container_id().to_string());
        let capture = self.engine_rt.spawn(capture_logs(
            self.docker.clone(),
            handle.container_id().to_string(),
            log_file.clone(),
            self.board.clone(),
            i,
        ));
        self.board.set(i, Phase::Running, Some(&container_name));
        let code = self.follow(i, kind, &handle);
        let took = started.elapsed();
        let outcome = handle.outcome();
        let log = self
            .engine_rt
            .block_on(async { tokio::time::timeout(LOG_DRAIN, capture).await })
            .ok()
            .and_then(Result::ok);
        let job_dir = self.layout.job_dir(&job_id);
        let verdict = judge(&Ended {
            kind,
            return_code: Some(code),
            exit_code: outcome.as_ref().and_then(|o| o.exit_code),
            job_dir: &job_dir,
            log_file: &log_file,
            log: log.as_deref(),
            train_job_id: self.train_job_id,
            dataset_len: self.dataset_len,
        });
        let exit_code = outcome.as_ref().and_then(|o| o.exit_code);
        self.board.set(
            i,
            Phase::Ended {
                outcome: outcome_text(Some(code), exit_code),
                good: verdict.as_expected,
            },
            None,
        );
        JobReport {
            kind,
            job_id,
            container_name,
            return_code: Some(code),
            exit_code,
            took,
            verdict,
            log,
        }
    }

    /// Until the job ends; the `stopped` job is stopped after [`STOP_AFTER`], any job at
    /// [`JOB_DEADLINE`] or on Ctrl-C.
    fn follow(&self, i: usize, kind: JobKind, handle: &BlockingJobHandle) -> JobReturnCode {
        let running_since = Instant::now();
        loop {
            if let Some(code) = handle.wait_timeout(TICK) {
                return code;
            }
            let ran = running_since.elapsed();
            if self.interrupted.load(Ordering::SeqCst)
                || ran >= JOB_DEADLINE
                || (kind == JobKind::Stopped && ran >= STOP_AFTER)
            {
                self.board.set(i, Phase::Stopping, None);
                return handle.terminate();
            }
        }
    }
}

/// Follows a container's output into `path` until it stops; returns the text. Each new
/// line is shown on the job's live status line.
pub(super) async fn capture_logs(
    docker: DockerRuntime,
    id: String,
    path: PathBuf,
    board: Arc<Board>,
    i: usize,
) -> String {
    let mut file = std::fs::File::create(&path).ok();
    let mut text = String::new();
    let mut stream = docker.logs(&id, true);
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        if let Some(f) = file.as_mut() {
            // The captured copy is best effort; the job's outcome does not depend on it.
            let _ = f.write_all(&chunk.bytes);
        }
        let piece = String::from_utf8_lossy(&chunk.bytes);
        text.push_str(&piece);
        if let Some(last) = piece.lines().rev().find(|l| !l.trim().is_empty()) {
            let shown = match chunk.stream {
                LogStream::Stderr => format!("stderr: {last}"),
                LogStream::Stdout => last.to_string(),
            };
            board.output(i, &shown);
        }
    }
    text
}

/// `SUCCESS (exit 0)`, `ABORTED (exit 137)`, `ABORTED`.
pub(super) fn outcome_text(code: Option<JobReturnCode>, exit_code: Option<i64>) -> String {
    match (code, exit_code) {
        (Some(c), Some(e)) => format!("{} (exit {e})", c.name()),
        (Some(c), None) => c.name().to_string(),
        (None, _) => "no outcome".to_string(),
    }
}
