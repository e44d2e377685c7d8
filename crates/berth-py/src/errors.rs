//! berth's two error kinds as upstream's Python classes: `Invalid` is `ValueError`,
//! `Refused` is `RuntimeError`. The message keeps upstream's key phrase; the hint, when
//! there is one, follows on its own line.

use berth_core::{Error, ErrorKind};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// The text the Python exception carries.
pub fn python_message(e: &Error) -> String {
    match e.hint() {
        Some(hint) => format!("{}\nhint: {hint}", e.message()),
        None => e.message().to_string(),
    }
}

pub fn to_py(e: Error) -> PyErr {
    let text = python_message(&e);
    match e.kind() {
        ErrorKind::Invalid => PyValueError::new_err(text),
        ErrorKind::Refused => PyRuntimeError::new_err(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_follows_the_message_on_its_own_line() {
        let e = Error::refused("Docker network 'n' does not exist").with_hint("docker network create n");
        assert_eq!(
            python_message(&e),
            "Docker network 'n' does not exist\nhint: docker network create n"
        );
        assert_eq!(python_message(&Error::invalid("bad")), "bad");
    }
}
