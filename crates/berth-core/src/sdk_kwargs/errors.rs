//! Error messages: a value's place in the input, unknown keys with close matches, and the
//! keys berth refuses with a reason.

use super::spec::{Rule, SPECS};
use crate::error::Error;
use crate::pyval;
use serde_json::Value;

/// A value's place in the input, for error messages (`shm_size`, `ulimits[0].soft`).
pub(super) struct Field<'a> {
    pub(super) source: &'a str,
    pub(super) key: String,
}

impl<'a> Field<'a> {
    pub(super) fn new(source: &'a str, key: &str) -> Self {
        Self {
            source,
            key: pyval::shorten(key, 80),
        }
    }

    pub(super) fn at(&self, index: usize) -> Field<'a> {
        Field {
            source: self.source,
            key: format!("{}[{index}]", self.key),
        }
    }

    pub(super) fn dot(&self, name: &str) -> Field<'a> {
        Field {
            source: self.source,
            key: format!("{}.{}", self.key, pyval::shorten(name, 80)),
        }
    }

    pub(super) fn type_error(&self, expected: &str, got: &Value) -> Error {
        Error::invalid(format!(
            "{} key '{}' must be {expected}, got {} {}",
            self.source,
            self.key,
            pyval::type_name(got),
            pyval::repr(got)
        ))
    }

    pub(super) fn value_error(&self, detail: impl std::fmt::Display) -> Error {
        Error::invalid(format!("{} key '{}' {detail}", self.source, self.key))
    }

    pub(super) fn out_of_range(&self, got: &Value) -> Error {
        self.value_error(format_args!(
            "is out of range: {} does not fit a signed 64-bit integer (the Docker Engine API's integer width)",
            pyval::repr(got)
        ))
    }
}

pub(super) fn unknown_keys_error(keys: &[&str], source: &str) -> Error {
    let quoted: Vec<String> = keys
        .iter()
        .map(|k| format!("'{}'", pyval::shorten(k, 80)))
        .collect();
    let message = match quoted.as_slice() {
        [one] => format!("{source} key {one} is not a Docker SDK run option"),
        many => format!("{source} keys {} are not Docker SDK run options", many.join(", ")),
    };
    let mut hints = Vec::new();
    for key in keys {
        let close = close_matches(key);
        if *key == "ports" {
            hints.push(
                "'ports' is not among the Docker SDK's create or host-config options, so berth does not \
                 accept it; job containers reach the site over the site network"
                    .to_string(),
            );
        } else if !close.is_empty() {
            let names: Vec<String> = close.iter().map(|c| format!("'{c}'")).collect();
            hints.push(format!(
                "for '{}' did you mean {}?",
                pyval::shorten(key, 80),
                names.join(" or ")
            ));
        }
    }
    if hints.is_empty() {
        hints.push(
            "use the keyword names of the Docker SDK's containers.run (docker-py 7.x), e.g. shm_size, \
             mem_limit, ipc_mode, ulimits"
                .to_string(),
        );
    }
    Error::invalid(message).with_hint(hints.join("; "))
}

/// Known, non-reserved keys close to `key`: same letters ignoring case and `_`, the
/// Engine API name of the key (`ShmSize`, `Memory`), or a small edit distance.
pub(super) fn close_matches(key: &str) -> Vec<&'static str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(key);
    let lower = key.to_lowercase();
    let budget = (key.chars().count() / 4).clamp(1, 3);
    let mut scored: Vec<(usize, &'static str)> = Vec::new();
    for s in SPECS {
        if s.rule == Rule::ClientOnly || s.rule == Rule::NetworkMode || s.rule == Rule::InitPath {
            continue;
        }
        let d = if squash(s.key) == wanted || (!s.field.is_empty() && squash(s.field) == wanted) {
            0
        } else {
            edit_distance(&lower, s.key)
        };
        if d <= budget {
            scored.push((d, s.key));
        }
    }
    scored.sort_by_key(|(d, _)| *d);
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions). Long
/// inputs are cut first, so a hostile key cannot make this slow.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 {
                j
            } else if j == 0 {
                i
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

pub(super) fn network_mode_error(source: &str) -> Error {
    Error::invalid(format!(
        "{source} key 'network_mode' cannot be used: the launcher always attaches the job container \
         to the site network set by its 'network' argument, and the Docker SDK refuses 'network' \
         together with 'network_mode'"
    ))
    .with_hint("remove network_mode; choose the job network with the launcher's network argument")
}

pub(super) fn init_path_error(source: &str) -> Error {
    Error::invalid(format!(
        "{source} key 'init_path' is not supported: the Docker SDK refuses it for Engine API 1.29 and \
         later, which every supported engine speaks"
    ))
    .with_hint("remove init_path; use init: true for the engine's default init")
}
