//! berth's two error kinds, mirroring upstream's `ValueError` / `RuntimeError` split.

use std::fmt;

/// Which of the two upstream error classes an [`Error`] corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Upstream's `ValueError`: the input (site config, job meta, study file, argument) is
    /// invalid. The CLI exits with status 2.
    Invalid,
    /// Upstream's `RuntimeError`: the launch is refused, or the engine failed. The CLI
    /// exits with status 3.
    Refused,
}

impl ErrorKind {
    /// The Python exception class upstream raises for this kind.
    pub fn python_class(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "ValueError",
            ErrorKind::Refused => "RuntimeError",
        }
    }

    /// The CLI's exit status for this kind.
    pub fn exit_status(self) -> i32 {
        match self {
            ErrorKind::Invalid => 2,
            ErrorKind::Refused => 3,
        }
    }
}

/// An error with its kind, a message that carries upstream's key phrase, and an optional
/// hint that tells the operator what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            message: message.into(),
            hint: None,
        }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Refused,
            message: message.into(),
            hint: None,
        }
    }

    /// Attach (or replace) the hint that says how to fix the problem.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same message and hint under the other kind (upstream converts some
    /// `ValueError`s into `RuntimeError`s on the launch path).
    pub fn into_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Prefix the message with context, keeping kind and hint.
    pub fn context(mut self, prefix: impl fmt::Display) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_upstream_classes_and_exit_statuses() {
        let e = Error::invalid("bad").with_hint("fix it");
        assert_eq!(e.kind().python_class(), "ValueError");
        assert_eq!(e.kind().exit_status(), 2);
        assert_eq!(e.hint(), Some("fix it"));
        let r = e.into_kind(ErrorKind::Refused);
        assert_eq!(r.kind().python_class(), "RuntimeError");
        assert_eq!(r.kind().exit_status(), 3);
        assert_eq!(r.to_string(), "bad");
    }
}
