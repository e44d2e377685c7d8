//! How much a job container may do: the site's security profile (DESIGN decision 14), the
//! image allowlist, and the environment names the launcher keeps for itself.
//!
//! The profile works on Docker SDK container options (the names a site writes in
//! `default_job_container_kwargs`), so a site relaxes one option by writing that option
//! itself: what any layer (site, study) sets explicitly is kept as written.

use crate::pyval::{self, Map};
use crate::{Error, Result};
use serde_json::{json, Value};

/// The launcher argument naming the profile.
pub const PROFILE_ARG: &str = "security_profile";
/// The launcher argument listing the images jobs may run.
pub const ALLOWED_IMAGES_ARG: &str = "allowed_images";
/// Processes (threads included) a job container may hold under `restricted` unless the
/// site sets `pids_limit`: far above what a training job with data-loader workers needs,
/// low enough that a fork bomb stops before it starves the host.
pub const DEFAULT_PIDS_LIMIT: i64 = 4096;
/// The security option that keeps setuid/setgid binaries and file capabilities from
/// raising a process's privileges.
pub const NO_NEW_PRIVILEGES: &str = "no-new-privileges";

/// What a job container is allowed beyond running its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProfile {
    /// No privilege escalation, every capability dropped, a process limit; the engine's
    /// default seccomp profile stays in force (berth never sets a seccomp option).
    #[default]
    Restricted,
    /// The engine's defaults, as NVFlare's own launcher leaves them.
    Baseline,
}

impl SecurityProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProfile::Restricted => "restricted",
            SecurityProfile::Baseline => "baseline",
        }
    }

    /// The profile a launcher argument names; anything else is an input error.
    pub fn from_arg(value: &Value) -> Result<Self> {
        match value.as_str() {
            Some("restricted") => Ok(SecurityProfile::Restricted),
            Some("baseline") => Ok(SecurityProfile::Baseline),
            _ => Err(Error::invalid(format!(
                "launcher argument {PROFILE_ARG} must be 'restricted' or 'baseline', got {}",
                pyval::repr(value)
            ))
            .with_hint(
                "use 'restricted' (the default) and relax single options in default_job_container_kwargs, \
                 or 'baseline' for the engine's defaults",
            )),
        }
    }

    /// Fill in the profile's options on the merged container options (site, study, job),
    /// leaving every option a layer set explicitly as it is:
    /// - `cap_drop: ["ALL"]` unless `cap_drop` is given (a site's `cap_add` still adds back
    ///   what it names: the engine drops first, then adds);
    /// - `no-new-privileges` appended to `security_opt` unless an entry already decides it
    ///   (`no-new-privileges:false` lets setuid binaries work again);
    /// - `pids_limit: DEFAULT_PIDS_LIMIT` unless `pids_limit` is given (`-1` is unlimited).
    pub fn apply(self, merged: &mut Map) {
        if self == SecurityProfile::Baseline {
            return;
        }
        if !is_given(merged, "cap_drop") {
            merged.insert("cap_drop".into(), json!(["ALL"]));
        }
        if !is_given(merged, "pids_limit") {
            merged.insert("pids_limit".into(), json!(DEFAULT_PIDS_LIMIT));
        }
        let mut opts: Vec<Value> = match merged.get("security_opt") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        if !opts
            .iter()
            .filter_map(Value::as_str)
            .any(decides_no_new_privileges)
        {
            opts.push(json!(NO_NEW_PRIVILEGES));
            merged.insert("security_opt".into(), Value::Array(opts));
        }
    }
}

/// A key counts as given when present and not null (null means "not given", as `None`
/// does for the Docker SDK).
fn is_given(kwargs: &Map, key: &str) -> bool {
    kwargs.get(key).is_some_and(|v| !v.is_null())
}

/// Whether a security option sets no-new-privileges either way (`no-new-privileges`,
/// `no-new-privileges:true`, `no-new-privileges=false`, ...).
pub fn decides_no_new_privileges(opt: &str) -> bool {
    opt.strip_prefix(NO_NEW_PRIVILEGES)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '=']))
}

/// Whether a security option turns no-new-privileges on.
pub fn enables_no_new_privileges(opt: &str) -> bool {
    match opt.strip_prefix(NO_NEW_PRIVILEGES) {
        Some("") => true,
        Some(rest) if rest.starts_with([':', '=']) => rest[1..].eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// One entry of `allowed_images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePattern {
    /// `registry.local/*` or `name:*`: every image whose reference starts with the part
    /// before the `*`.
    Prefix(String),
    /// `name:tag` or `name@sha256:<64 hex>`: that reference and nothing else.
    Exact(String),
}

impl ImagePattern {
    fn parse(text: &str, at: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "{ALLOWED_IMAGES_ARG}{at} '{}' {why}",
                pyval::shorten(&text.escape_debug().to_string(), 200)
            ))
            .with_hint(
                "use 'registry.local/*' (a registry or repository prefix), 'name:*' (every tag of one \
                 image), 'name:tag', or 'name@sha256:<digest>'",
            )
        };
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must be a non-empty image pattern without spaces"));
        }
        if let Some(prefix) = text.strip_suffix('*') {
            if prefix.contains('*') || !(prefix.ends_with('/') || prefix.ends_with(':')) || prefix.len() < 2 {
                return Err(bad(
                    "may use '*' only once, at the end, right after '/' or ':' (so 'registry.local*' cannot match 'registry.local.evil.example')",
                ));
            }
            return Ok(ImagePattern::Prefix(prefix.to_string()));
        }
        if text.contains('*') {
            return Err(bad("may use '*' only at the end"));
        }
        if let Some((_, digest)) = text.split_once('@') {
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64
                || !hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                return Err(bad(
                    "must give its digest as sha256: and 64 lower-case hex digits",
                ));
            }
        }
        Ok(ImagePattern::Exact(text.to_string()))
    }

    pub fn matches(&self, image: &str) -> bool {
        match self {
            ImagePattern::Prefix(prefix) => image.len() > prefix.len() && image.starts_with(prefix.as_str()),
            ImagePattern::Exact(exact) => image == exact,
        }
    }
}

/// The images a site lets its jobs run; `None` (the default) allows every image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageAllowlist {
    patterns: Option<Vec<ImagePattern>>,
    /// The patterns as the site wrote them, for messages.
    written: Vec<String>,
}

impl ImageAllowlist {
    /// Read the `allowed_images` launcher argument: absent or null allows every image; a
    /// list of patterns allows only what one of them matches (an empty list allows none).
    pub fn from_arg(value: Option<&Value>) -> Result<Self> {
        let items = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "launcher argument {ALLOWED_IMAGES_ARG} must be a list of image patterns, got {}",
                    pyval::repr(other)
                ))
                .with_hint("for example [\"registry.local/*\", \"nvflare/nvflare:2.7.0\"]"))
            }
        };
        let mut patterns = Vec::with_capacity(items.len());
        let mut written = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(text) = item.as_str() else {
                return Err(Error::invalid(format!(
                    "{ALLOWED_IMAGES_ARG}[{i}] must be a string, got {}",
                    pyval::repr(item)
                )));
            };
            patterns.push(ImagePattern::parse(text, &format!("[{i}]"))?);
            written.push(text.to_string());
        }
        Ok(Self {
            patterns: Some(patterns),
            written,
        })
    }

    /// Whether the site limits images at all.
    pub fn is_limited(&self) -> bool {
        self.patterns.is_some()
    }

    /// Refuse `image` unless a pattern allows it. `from` says where the job got it (its
    /// meta or its study). Runs before anything is created or pulled.
    pub fn check(&self, image: &str, from: &str) -> Result<()> {
        let Some(patterns) = &self.patterns else {
            return Ok(());
        };
        if patterns.iter().any(|p| p.matches(image)) {
            return Ok(());
        }
        Err(Error::refused(format!(
            "image '{}' ({from}) is not in the site's {ALLOWED_IMAGES_ARG} {:?}",
            pyval::shorten(&image.escape_debug().to_string(), 200),
            self.written
        ))
        .with_hint(format!(
            "use an image the site allows, or ask the site admin to add it to {ALLOWED_IMAGES_ARG} in the launcher args"
        )))
    }
}

/// Environment names the launcher sets itself: `PYTHONPATH`, the job credentials
/// (`NVFLARE_JOB_*`) and the workspace transfer settings (`NVFL_WORKSPACE_*`). Neither the
/// site's `default_job_env` nor a study may set them.
pub fn is_launcher_owned_env(name: &str) -> bool {
    name == "PYTHONPATH" || name.starts_with("NVFLARE_JOB_") || name.starts_with("NVFL_WORKSPACE_")
}

/// How the launcher-owned names are described in errors.
pub const LAUNCHER_OWNED_ENV_TEXT: &str = "PYTHONPATH, NVFLARE_JOB_* and NVFL_WORKSPACE_*";

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn restricted_fills_in_only_what_no_layer_set() {
        let mut m = Map::new();
        SecurityProfile::Restricted.apply(&mut m);
        assert_eq!(
            Value::Object(m),
            json!({"cap_drop": ["ALL"], "pids_limit": 4096, "security_opt": ["no-new-privileges"]})
        );
        let mut m = map(json!({"cap_drop": ["NET_RAW"], "pids_limit": -1, "security_opt": ["apparmor=x"]}));
        SecurityProfile::Restricted.apply(&mut m);
        assert_eq!(
            Value::Object(m),
            json!({"cap_drop": ["NET_RAW"], "pids_limit": -1, "security_opt": ["apparmor=x", "no-new-privileges"]})
        );
        let mut m = map(json!({"security_opt": ["no-new-privileges:false"], "cap_drop": null}));
        SecurityProfile::Restricted.apply(&mut m);
        assert_eq!(m["security_opt"], json!(["no-new-privileges:false"]));
        assert_eq!(m["cap_drop"], json!(["ALL"]));
        let mut m = Map::new();
        SecurityProfile::Baseline.apply(&mut m);
        assert!(m.is_empty());
    }

    #[test]
    fn profile_names() {
        assert_eq!(
            SecurityProfile::from_arg(&json!("baseline")).unwrap(),
            SecurityProfile::Baseline
        );
        for bad in [
            json!("Restricted"),
            json!(""),
            json!(1),
            json!(null),
            json!("privileged"),
        ] {
            let e = SecurityProfile::from_arg(&bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid);
            assert!(e.message().contains(PROFILE_ARG), "{e}");
        }
    }

    #[test]
    fn no_new_privileges_forms() {
        for on in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
        ] {
            assert!(
                decides_no_new_privileges(on) && enables_no_new_privileges(on),
                "{on}"
            );
        }
        for off in ["no-new-privileges:false", "no-new-privileges=false"] {
            assert!(
                decides_no_new_privileges(off) && !enables_no_new_privileges(off),
                "{off}"
            );
        }
        for other in ["no-new-privilegesx", "seccomp=unconfined", ""] {
            assert!(!decides_no_new_privileges(other), "{other}");
        }
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn each_pattern_form_matches_what_it_names_and_nothing_else() {
        let list = ImageAllowlist::from_arg(Some(&json!([
            "registry.local/*",
            "nvflare/nvflare:*",
            "python:3.12",
            format!("pinned/app@{DIGEST}"),
        ])))
        .unwrap();
        for ok in [
            "registry.local/team/trainer:1",
            "registry.local/x",
            "nvflare/nvflare:2.7.0",
            "python:3.12",
            &format!("pinned/app@{DIGEST}"),
        ] {
            assert!(list.check(ok, "job meta").is_ok(), "{ok}");
        }
        for refused in [
            "registry.local.evil.example/x",
            "registry.local/",
            "evil/registry.local/x",
            "nvflare/nvflare",
            "nvflare/nvflare-evil:1",
            "python:3.12-slim",
            "python",
            "docker.io/library/python:3.12",
            "pinned/app:latest",
            &format!("pinned/app@{}", DIGEST.replace('0', "1")),
        ] {
            let e = list.check(refused, "job meta").unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Refused);
            assert!(e.message().contains(refused), "{e}");
            assert!(e.message().contains(ALLOWED_IMAGES_ARG), "{e}");
        }
    }

    #[test]
    fn no_list_allows_all_and_an_empty_list_allows_none() {
        assert!(ImageAllowlist::from_arg(None)
            .unwrap()
            .check("any:1", "x")
            .is_ok());
        assert!(ImageAllowlist::from_arg(Some(&Value::Null))
            .unwrap()
            .check("any:1", "x")
            .is_ok());
        assert!(ImageAllowlist::from_arg(Some(&json!([])))
            .unwrap()
            .check("any:1", "x")
            .is_err());
    }

    #[test]
    fn bad_patterns_name_the_entry() {
        for (bad, at) in [
            (json!("registry.local/*"), "allowed_images must be a list"),
            (json!([1]), "allowed_images[0] must be a string"),
            (json!([""]), "allowed_images[0]"),
            (json!(["ok:1", "registry.local*"]), "allowed_images[1]"),
            (json!(["*"]), "allowed_images[0]"),
            (json!(["a/*/b"]), "allowed_images[0]"),
            (json!(["a/**"]), "allowed_images[0]"),
            (json!(["app@sha256:abc"]), "allowed_images[0]"),
            (json!(["has space:1"]), "allowed_images[0]"),
        ] {
            let e = ImageAllowlist::from_arg(Some(&bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid);
            assert!(e.message().contains(at), "{bad}: {e}");
        }
    }

    #[test]
    fn launcher_owned_env_names() {
        for owned in [
            "PYTHONPATH",
            "NVFLARE_JOB_AUTH_TOKEN",
            "NVFLARE_JOB_ANYTHING",
            "NVFL_WORKSPACE_OWNER_FQCN",
            "NVFL_WORKSPACE_X",
        ] {
            assert!(is_launcher_owned_env(owned), "{owned}");
        }
        for free in [
            "PYTHONPATHX",
            "NVFLARE_JOB",
            "NCCL_P2P_DISABLE",
            "pythonpath",
            "NVFL_DOCKER_WORKSPACE",
        ] {
            assert!(!is_launcher_owned_env(free), "{free}");
        }
    }
}
