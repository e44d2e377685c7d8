//! Running a program the way its user would and keeping what it said.

use std::process::{Command, Output};

/// Runs `cmd` to its end: its exit status (-1 when a signal ended it), stdout and stderr
/// as text. Panics when the program cannot be started at all.
pub fn run_output(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
