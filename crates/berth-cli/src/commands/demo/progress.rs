//! Live progress: one status line per job. On a terminal the lines are redrawn in place;
//! otherwise each change is printed once, as a plain line a log can keep.

use crate::output::human_duration;
use crate::style::{clip, pad, Style};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Launching,
    Running,
    Stopping,
    /// Ended: the outcome text (`SUCCESS (exit 0)`) and whether it was the expected one.
    Ended {
        outcome: String,
        good: bool,
    },
    /// berth could not launch or follow it.
    Error(String),
}

impl Phase {
    fn word(&self) -> &str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Launching => "launching",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Ended { outcome, .. } => outcome,
            Phase::Error(_) => "error",
        }
    }

    fn is_final(&self) -> bool {
        matches!(self, Phase::Ended { .. } | Phase::Error(_))
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redraw the lines in place (a terminal).
    Live,
    /// One line per change.
    Plain,
    /// Nothing (`-q`, `--json`).
    Silent,
}

#[derive(Debug)]
struct Row {
    name: &'static str,
    phase: Phase,
    started: Option<Instant>,
    took: Option<Duration>,
    last_output: String,
}

/// The status lines of all jobs, shared by the job threads and the drawing thread.
#[derive(Debug)]
pub struct Board {
    mode: Mode,
    style: Style,
    born: Instant,
    rows: Mutex<Vec<Row>>,
    /// Lines drawn by the last live redraw.
    drawn: Mutex<usize>,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// Live lines stay narrower than this so they never wrap (wrapping breaks the redraw).
const LINE_WIDTH: usize = 78;
const NAME_WIDTH: usize = 8;

impl Board {
    pub fn new(names: &[&'static str], mode: Mode, style: Style) -> Self {
        let rows = names
            .iter()
            .map(|name| Row {
                name,
                phase: Phase::Waiting,
                started: None,
                took: None,
                last_output: String::new(),
            })
            .collect();
        Self {
            mode,
            style,
            born: Instant::now(),
            rows: Mutex::new(rows),
            drawn: Mutex::new(0),
        }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<Row>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Move job `i` to `phase`; `note` is shown on the plain line (a container name, ...).
    pub fn set(&self, i: usize, phase: Phase, note: Option<&str>) {
        let line = {
            let mut rows = self.rows();
            let Some(row) = rows.get_mut(i) else { return };
            if phase == Phase::Launching {
                row.started = Some(Instant::now());
            }
            if phase.is_final() {
                row.took = row.started.map(|s| s.elapsed());
            }
            row.phase = phase;
            self.plain_line(row, note)
        };
        if self.mode == Mode::Plain {
            println!("{line}");
        }
    }

    /// The job's latest output line (shown on the live line).
    pub fn output(&self, i: usize, line: &str) {
        if let Some(row) = self.rows().get_mut(i) {
            row.last_output = line.trim().to_string();
        }
    }

    /// Whether every job has ended (or failed to launch).
    pub fn all_final(&self) -> bool {
        self.rows().iter().all(|r| r.phase.is_final())
    }

    fn plain_line(&self, row: &Row, note: Option<&str>) -> String {
        let mut line = format!("  {} {}", pad(row.name, NAME_WIDTH), row.phase.word());
        match &row.phase {
            Phase::Ended { .. } => {
                if let Some(took) = row.took {
                    line.push_str(&format!(" after {}", human_duration(took.as_millis() as i64)));
                }
            }
            Phase::Error(why) => line.push_str(&format!(": {why}")),
            _ => {}
        }
        if let Some(note) = note {
            line.push_str(&format!(" ({note})"));
        }
        line
    }

    fn live_line(&self, row: &Row) -> String {
        let s = &self.style;
        let elapsed = match (row.took, row.started) {
            (Some(t), _) => human_duration(t.as_millis() as i64),
            (None, Some(st)) => human_duration(st.elapsed().as_millis() as i64),
            (None, None) => String::new(),
        };
        let frame = SPINNER[(self.born.elapsed().as_millis() / 100) as usize % SPINNER.len()];
        let (mark, word) = match &row.phase {
            Phase::Ended { outcome, good: true } => (s.green("✓"), s.green(&pad(outcome, 24))),
            Phase::Ended { outcome, good: false } => (s.red("✗"), s.red(&pad(outcome, 24))),
            Phase::Error(_) => (s.red("✗"), s.red(&pad("error", 24))),
            Phase::Waiting => (s.dim("·"), pad("waiting", 24)),
            other => (frame.to_string(), pad(other.word(), 24)),
        };
        let head = format!(
            "  {mark} {} {word} {}",
            pad(row.name, NAME_WIDTH),
            pad(&elapsed, 7)
        );
        // Visible characters before the tail: indent, mark, name, word, elapsed, spaces.
        let used = 2 + 1 + 1 + NAME_WIDTH + 1 + 24 + 1 + 7 + 1;
        let room = LINE_WIDTH.saturating_sub(used);
        let tail = match &row.phase {
            Phase::Error(why) => why.clone(),
            _ => row.last_output.clone(),
        };
        format!("{head} {}", s.dim(&clip(&tail, room)))
    }

    /// Redraw every line in place (live mode only).
    pub fn draw(&self) {
        if self.mode != Mode::Live {
            return;
        }
        let lines: Vec<String> = self.rows().iter().map(|r| self.live_line(r)).collect();
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::io::stdout().lock();
        let mut text = String::new();
        if *drawn > 0 {
            text.push_str(&format!("\x1b[{}A", *drawn));
        }
        for line in &lines {
            text.push_str("\r\x1b[2K");
            text.push_str(line);
            text.push('\n');
        }
        // A lost progress frame is harmless.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        *drawn = lines.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Style {
        Style {
            terminal: false,
            colour: false,
        }
    }

    #[test]
    fn plain_lines_name_the_job_and_its_phase() {
        let board = Board::new(&["train", "fail"], Mode::Silent, plain());
        board.set(0, Phase::Launching, None);
        let rows = board.rows();
        assert_eq!(
            board.plain_line(&rows[0], Some("c1")),
            "  train    launching (c1)"
        );
    }

    #[test]
    fn live_lines_fit_the_width() {
        let board = Board::new(&["stopped"], Mode::Silent, plain());
        board.set(0, Phase::Running, None);
        board.output(0, &"x".repeat(200));
        let line = board.live_line(&board.rows()[0]);
        assert!(line.chars().count() <= LINE_WIDTH, "{line}");
        assert!(!board.all_final());
        board.set(
            0,
            Phase::Ended {
                outcome: "ABORTED".into(),
                good: true,
            },
            None,
        );
        assert!(board.all_final());
    }
}
