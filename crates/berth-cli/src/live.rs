//! The one live status line `berth wait` keeps on a terminal: the job, its state, how long
//! it has run, and its last line of output. Drawn on stderr only when stderr is a
//! terminal, so a piped or redirected `berth wait` prints nothing extra; cleared before the
//! result is printed.

use berth_engine::ContainerRuntime;
use futures::StreamExt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(250);
/// The widest the line gets when the terminal's width is unknown.
const DEFAULT_WIDTH: usize = 100;

/// A running live line; [`LiveLine::finish`] (or drop) stops and clears it.
pub struct LiveLine {
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

/// The text of the line, cut to `width` characters. Control characters in the job's output
/// are dropped so they cannot move the cursor.
pub fn render(job: &str, state: &str, elapsed: Duration, last: Option<&str>, width: usize) -> String {
    let secs = elapsed.as_secs();
    let elapsed = if secs < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    };
    let mut line = format!("{job}: {state}, {elapsed}");
    if let Some(last) = last.map(str::trim).filter(|l| !l.is_empty()) {
        let clean: String = last.chars().filter(|c| !c.is_control()).collect();
        line.push_str(" | ");
        line.push_str(&clean);
    }
    match line.char_indices().nth(width.max(4)) {
        Some((cut, _)) => {
            let keep = line[..cut].chars().count().saturating_sub(1);
            line.chars().take(keep).chain(std::iter::once('…')).collect()
        }
        None => line,
    }
}

fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|w| *w > 10)
        .map(|w| w - 1)
        .unwrap_or(DEFAULT_WIDTH)
}

impl LiveLine {
    /// Start the line for a running job when stderr is a terminal; `None` otherwise.
    /// `started` is when the job started (the elapsed time counts from there).
    pub fn start(
        runtime: Arc<dyn ContainerRuntime>,
        job: &str,
        container_id: &str,
        started: Instant,
    ) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let last: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        // The output follower ends by itself when the container stops; it is not joined.
        {
            let last = last.clone();
            let id = container_id.to_string();
            std::thread::spawn(move || follow_output(runtime, &id, &last));
        }
        let ticker = {
            let stop = stop.clone();
            let job = job.to_string();
            std::thread::spawn(move || {
                let width = width();
                while !stop.load(Ordering::Relaxed) {
                    let text = {
                        let last = last.lock().unwrap_or_else(|p| p.into_inner());
                        render(&job, "running", started.elapsed(), last.as_deref(), width)
                    };
                    let mut err = std::io::stderr().lock();
                    // A closed terminal only ends the line.
                    if write!(err, "\r\x1b[2K{text}").and_then(|_| err.flush()).is_err() {
                        return;
                    }
                    drop(err);
                    std::thread::sleep(REDRAW);
                }
            })
        };
        Some(Self {
            stop,
            ticker: Some(ticker),
        })
    }

    /// Stop redrawing and clear the line.
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Keep the last non-empty output line of the container in `last`.
fn follow_output(runtime: Arc<dyn ContainerRuntime>, id: &str, last: &Mutex<Option<String>>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    rt.block_on(async {
        let mut stream = runtime.logs(id, true);
        let mut partial = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            partial.push_str(&String::from_utf8_lossy(&chunk.bytes));
            if let Some(line) = partial.lines().rev().find(|l| !l.trim().is_empty()) {
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(line.to_string());
            }
            // Keep only the unfinished tail.
            if let Some(nl) = partial.rfind('\n') {
                partial.drain(..=nl);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_job_state_elapsed_and_the_last_output() {
        let line = render(
            "hello-1",
            "running",
            Duration::from_millis(12_300),
            Some("epoch 2/3\n"),
            80,
        );
        assert_eq!(line, "hello-1: running, 12.3s | epoch 2/3");
        assert_eq!(
            render("j", "running", Duration::from_secs(185), None, 80),
            "j: running, 3m05s"
        );
    }

    #[test]
    fn the_line_is_cut_to_the_width_and_stripped_of_control_characters() {
        let line = render("j", "running", Duration::ZERO, Some("a\x1b[2Jb\rc"), 80);
        assert_eq!(line, "j: running, 0.0s | a[2Jbc");
        let long = render("j", "running", Duration::ZERO, Some(&"x".repeat(500)), 40);
        assert_eq!(long.chars().count(), 40);
        assert!(long.ends_with('…'));
    }
}
