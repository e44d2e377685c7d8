//! The name rule shared by study, dataset and secret-mount names.
//!
//! A name becomes a path component (`/data/<study>/<dataset>`), so it is kept to a
//! DNS-label-like shape: lower-case letters and digits, with `-` and `_` allowed inside.

/// Longest accepted name, in characters.
pub const MAX_NAME_LEN: usize = 63;

/// Whether `name` is a valid study, dataset or secret-mount name: 1–63 characters from
/// `[a-z0-9_-]`, starting and ending with a lower-case letter or digit.
///
/// The whole string must match. Upstream's pattern also tolerates a single trailing
/// newline; berth does not (DESIGN decision 12), since the name ends up in a mount path.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let inner_ok = |b: u8| edge_ok(b) || b == b'-' || b == b'_';
    match bytes {
        [] => false,
        [only] => edge_ok(*only),
        [first, middle @ .., last] => {
            bytes.len() <= MAX_NAME_LEN
                && edge_ok(*first)
                && edge_ok(*last)
                && middle.iter().all(|b| inner_ok(*b))
        }
    }
}

/// Whether upstream would try to mount study data for this study: any non-empty name,
/// including `default` (which is a normal study name, not "no study").
pub fn should_mount_study_data(study: Option<&str>) -> bool {
    study.is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_label_like_names() {
        for name in [
            "a",
            "0",
            "study-a",
            "lung_cancer",
            "a1-b2_c3",
            "default",
            &"a".repeat(63),
        ] {
            assert!(is_valid_name(name), "{name:?}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for name in [
            "",
            "-a",
            "a-",
            "_a",
            "a_",
            "Study_A",
            "Bad/Name",
            "a b",
            "a.b",
            "..",
            "é",
            "a\n",
            "study-a\n",
            "\na",
            "a\0",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }

    #[test]
    fn default_and_named_studies_mount_but_missing_ones_do_not() {
        assert!(!should_mount_study_data(None)); // C222
        assert!(!should_mount_study_data(Some(""))); // C223
        assert!(should_mount_study_data(Some("default"))); // C224
        assert!(should_mount_study_data(Some("study-a"))); // C225
    }
}
