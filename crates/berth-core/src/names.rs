//! Container names.

/// The name used when sanitising leaves nothing.
pub const FALLBACK_NAME: &str = "nvflare-job";

/// Upstream's sanitiser: full Unicode lower-casing, every character outside
/// `[a-z0-9-_.]` becomes `-`, leading and trailing `-` are stripped, and an empty result
/// becomes [`FALLBACK_NAME`].
pub fn sanitize(raw: &str) -> String {
    let replaced: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = replaced.trim_matches('-');
    if trimmed.is_empty() {
        FALLBACK_NAME.to_string()
    } else {
        trimmed.to_string()
    }
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_valid_docker_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    first.is_ascii_alphanumeric()
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The longest container name berth produces; longer names are cut and suffixed with a
/// digest of the full name so that two long job ids stay distinct.
pub const MAX_NAME_LEN: usize = 128;

/// The job container's name: upstream's `sanitize("<site>-<job_id>")`, made valid for
/// Docker. Upstream can produce a name that starts with `_` or `.`, or a one-character
/// name, which the engine then refuses at create time; berth strips such a leading run
/// and falls back to a prefixed name instead, so every plan carries a name Docker accepts.
pub fn container_name(site: &str, job_id: &str) -> String {
    let raw = format!("{site}-{job_id}");
    let upstream = sanitize(&raw);
    let mut name = upstream.trim_start_matches(['_', '.', '-']).to_string();
    if name.len() < 2 {
        name = format!("{FALLBACK_NAME}-{name}")
            .trim_end_matches('-')
            .to_string();
    }
    if name.len() > MAX_NAME_LEN {
        let digest = fnv1a64(raw.as_bytes());
        let keep = MAX_NAME_LEN - 17;
        name = format!("{}-{digest:016x}", &name[..keep]);
    }
    name
}

/// FNV-1a, 64 bit: a stable, dependency-free digest for name suffixes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // C001–C005 and the spec's further examples.
    #[test]
    fn sanitize_matches_upstream_examples() {
        assert_eq!(sanitize("MyContainer"), "mycontainer"); // C001
        assert_eq!(sanitize("foo/bar:baz"), "foo-bar-baz"); // C002
        assert_eq!(sanitize("-foo"), "foo"); // C003
        assert_eq!(sanitize(""), "nvflare-job"); // C004
        assert_eq!(sanitize("foo.bar_baz"), "foo.bar_baz"); // C005
        assert_eq!(sanitize("--a--"), "a");
        assert_eq!(sanitize("ÉCOLE-j"), "cole-j");
        assert_eq!(sanitize("İx"), "i-x");
    }

    #[test]
    fn container_names_fix_what_docker_would_refuse() {
        assert_eq!(container_name("site-1", "job-1"), "site-1-job-1");
        assert_eq!(container_name("_site", "j"), "site-j");
        assert_eq!(container_name("", "x"), "nvflare-job-x");
        assert_eq!(container_name("", ""), "nvflare-job");
        let long = container_name("site", &"a".repeat(500));
        assert!(long.len() <= MAX_NAME_LEN);
        assert_ne!(long, container_name("site", &"a".repeat(501)));
    }

    proptest! {
        #[test]
        fn container_names_are_always_valid_docker_names(site in ".{0,40}", job in ".{0,300}") {
            let name = container_name(&site, &job);
            prop_assert!(is_valid_docker_name(&name), "{name:?}");
            prop_assert!(name.len() <= MAX_NAME_LEN);
        }
    }
}
