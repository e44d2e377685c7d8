//! The job's Docker launcher spec: `launcher_spec` resolution (default + site shallow merge,
//! legacy nested `resource_spec[site].docker` fallback, typo warnings) and the five-key
//! job allowlist with its per-field validators (spec §4.1, §4.2).
//!
//! Resolution never trusts the shape of `meta.json`: a block that upstream would crash on
//! (a list where a mapping belongs, a string site entry, ...) is a [`ErrorKind::Refused`]
//! error naming the field. Falsy values (`null`, `""`, `0`, `[]`, `{}`) read as "not set"
//! exactly where upstream reads them that way.

use crate::pyval::{self, Map};
use crate::units::job_shm_size_bytes;
use crate::{Error, ErrorKind, Result};
use serde_json::Value;

/// The only keys a job may set in its Docker spec (upstream `DOCKER_JOB_LAUNCHER_KEYS`).
pub const JOB_DOCKER_KEYS: [&str; 5] = ["image", "python_path", "entrypoint", "num_of_gpus", "shm_size"];

/// The job keys that are forwarded as container options (upstream
/// `DOCKER_JOB_CONTAINER_KWARGS`); `image`, `python_path` and `num_of_gpus` never are.
pub const JOB_CONTAINER_KWARGS: [&str; 2] = ["entrypoint", "shm_size"];

/// The launcher modes a site block in `launcher_spec` (or a nested `resource_spec` site
/// entry) may hold.
pub const LAUNCHER_MODES: [&str; 4] = ["process", "docker", "k8s", "slurm"];

/// The reserved top-level key of `launcher_spec`; every other key is a site name.
pub const LAUNCHER_SPEC_DEFAULT_KEY: &str = "default";

/// The job's Docker mode name inside `launcher_spec` blocks.
pub const DOCKER_MODE: &str = "docker";

/// Top-level `launcher_spec` keys that look like a misspelt `default` block.
///
/// A key is flagged when it is not `default`, its value is a mapping whose keys are all
/// launcher modes (an empty mapping counts), and the key is a prefix of `default` or starts
/// with it (`defaults`, `defaul`, `d`, `default-x`). Flagged keys are still site names;
/// this only feeds a warning.
pub fn suspicious_launcher_spec_keys(launcher_spec: &Map) -> Vec<String> {
    launcher_spec
        .iter()
        .filter(|(key, value)| {
            key.as_str() != LAUNCHER_SPEC_DEFAULT_KEY
                && value
                    .as_object()
                    .is_some_and(|block| block.keys().all(|mode| is_launcher_mode(mode)))
                && (key.starts_with(LAUNCHER_SPEC_DEFAULT_KEY)
                    || LAUNCHER_SPEC_DEFAULT_KEY.starts_with(key.as_str()))
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// The job's Docker spec for `site` (spec §4.1).
///
/// `launcher_spec['default']['docker']` shallow-merged with `launcher_spec[site]['docker']`
/// (site wins). When neither is set — an empty default block does not count, an explicit
/// empty site block does — the legacy nested `resource_spec[site]['docker']` is used, per
/// site and per mode. A warning is pushed for each top-level key that looks like a misspelt
/// `default`.
///
/// Does not validate the values; see [`validate_job_docker_options`]. Malformed blocks are
/// [`ErrorKind::Refused`] (upstream crashes there, on the launch path).
pub fn resolve_docker_spec(meta: &Map, site: &str, warnings: &mut Vec<String>) -> Result<Map> {
    resolve_launcher_spec(meta, site, DOCKER_MODE, warnings)
}

/// [`resolve_docker_spec`] for any launcher mode (`process`, `docker`, `k8s`, `slurm`).
/// For `process`, a flat legacy `resource_spec[site]` is the spec itself.
pub fn resolve_launcher_spec(meta: &Map, site: &str, mode: &str, warnings: &mut Vec<String>) -> Result<Map> {
    const KIND: ErrorKind = ErrorKind::Refused;
    let launcher_spec = mapping_or_unset(meta.get("launcher_spec"), "launcher_spec", KIND)?;
    if let Some(ls) = launcher_spec {
        for key in suspicious_launcher_spec_keys(ls) {
            warnings.push(format!(
                "launcher_spec key {} looks like a misspelling of the reserved key '{LAUNCHER_SPEC_DEFAULT_KEY}' \
                 and is treated as a site name, not as the default block",
                key_repr(&key)
            ));
        }
    }

    let default_label = format!("launcher_spec[{}]", key_repr(LAUNCHER_SPEC_DEFAULT_KEY));
    let default_entry = mapping_or_unset(
        launcher_spec.and_then(|ls| ls.get(LAUNCHER_SPEC_DEFAULT_KEY)),
        &default_label,
        KIND,
    )?;
    let default_block = mapping_or_unset(
        default_entry.and_then(|d| d.get(mode)),
        &format!("{default_label}[{}]", key_repr(mode)),
        KIND,
    )?;

    let site_label = format!("launcher_spec[{}]", key_repr(site));
    let site_entry = mapping_or_unset(launcher_spec.and_then(|ls| ls.get(site)), &site_label, KIND)?;
    // Any non-null site block counts as present, even a falsy one: it blocks the fallback.
    let site_block = match site_entry.and_then(|s| s.get(mode)) {
        None | Some(Value::Null) => None,
        Some(v) => Some(mapping_or_unset(
            Some(v),
            &format!("{site_label}[{}]", key_repr(mode)),
            KIND,
        )?),
    };

    if default_block.is_some() || site_block.is_some() {
        let mut merged = default_block.cloned().unwrap_or_default();
        if let Some(Some(site_block)) = site_block {
            for (k, v) in site_block {
                merged.insert(k.clone(), v.clone());
            }
        }
        return Ok(merged);
    }
    legacy_resource_spec_block(meta, site, mode, KIND)
}

/// The legacy per-site, per-mode block in `resource_spec` (spec §4.1 step 5): the mode
/// sub-block of a nested site entry, the flat entry itself for `process`, else empty.
pub(crate) fn legacy_resource_spec_block(meta: &Map, site: &str, mode: &str, kind: ErrorKind) -> Result<Map> {
    let resource_spec = mapping_or_unset(meta.get("resource_spec"), "resource_spec", kind)?;
    let site_label = format!("resource_spec[{}]", key_repr(site));
    let Some(entry) = mapping_or_unset(resource_spec.and_then(|rs| rs.get(site)), &site_label, kind)? else {
        return Ok(Map::new());
    };
    if !is_nested_site_entry(entry) {
        return Ok(if mode == "process" {
            entry.clone()
        } else {
            Map::new()
        });
    }
    match entry.get(mode) {
        None => Ok(Map::new()),
        Some(Value::Object(block)) => Ok(block.clone()),
        // Upstream hands this value to the launcher as the spec and crashes on it.
        Some(other) => Err(mapping_error(
            &format!("{site_label}[{}]", key_repr(mode)),
            other,
            kind,
        )),
    }
}

/// Check a resolved job Docker spec against the allowlist and per-field rules (spec §4.2).
///
/// Unknown keys are reported first, all of them, sorted, with the allowed set. Then each
/// field is checked in the order the submitter wrote it and the first failure is
/// reported as `<label>: field '<f>' <rule>`. Errors are [`ErrorKind::Invalid`]; the launch
/// path turns them into [`ErrorKind::Refused`].
pub fn validate_job_docker_options(spec: &Map, label: &str) -> Result<()> {
    if let Some((unknown, allowed)) = unknown_keys(spec, &JOB_DOCKER_KEYS) {
        return Err(Error::invalid(format!(
            "{label} contains unsupported job-controlled Docker option(s) {unknown}; allowed options are {allowed}"
        ))
        .with_hint(
            "remove these keys from the job's meta.json; container settings such as device_requests, \
             ipc_mode, privileged or volumes are the site's decision and belong in the site's \
             resources.json or local/study_runtime.yaml",
        ));
    }
    for (field, value) in spec {
        if let Some((rule, hint)) = field_rule_violation(field, value) {
            return Err(Error::invalid(format!(
                "{label}: field '{field}' {rule}, got {}: {}",
                pyval::type_name(value),
                pyval::repr(value)
            ))
            .with_hint(hint));
        }
    }
    Ok(())
}

/// The rule text and a fix for a field whose value breaks its §4.2 rule; `None` when the
/// value is fine (or the key is not a job key, which the allowlist check already caught).
fn field_rule_violation(field: &str, value: &Value) -> Option<(&'static str, &'static str)> {
    let (ok, rule, hint) = match field {
        "image" => (
            value.is_null() || value.is_string(),
            "must be a string or null",
            "use an image reference such as \"nvflare/nvflare:2.7.0\", or null to use the study's image",
        ),
        "python_path" => (
            pyval::non_blank_str(value).is_some(),
            "must be a non-empty string",
            "use the python executable's path inside the image, e.g. \"/usr/local/bin/python\", \
             or remove the key to use the site's default",
        ),
        "entrypoint" => (
            is_valid_entrypoint(value),
            "must be a non-empty string or a non-empty list of non-empty strings",
            "use a path such as \"/bin/sh\" or a list such as [\"/bin/sh\", \"-c\"]",
        ),
        "num_of_gpus" => (
            pyval::as_int(value).is_some_and(|n| n >= 0),
            "must be an integer greater than or equal to 0",
            "use a whole number such as 0 or 2 (not a string, a boolean or a decimal)",
        ),
        "shm_size" => (
            job_shm_size_bytes(value).is_some(),
            "must be a non-negative integer or decimal byte-size string within Docker's signed 64-bit limit",
            "use a byte count such as 1073741824, or a size such as \"8g\", \"512mb\" or \"1.5g\" \
             (units b, k, m, g; no spaces)",
        ),
        _ => return None,
    };
    (!ok).then_some((rule, hint))
}

fn is_valid_entrypoint(value: &Value) -> bool {
    match value {
        Value::String(_) => pyval::non_blank_str(value).is_some(),
        Value::Array(items) => !items.is_empty() && items.iter().all(|i| pyval::non_blank_str(i).is_some()),
        _ => false,
    }
}

/// The job's image from its Docker spec (spec §5 step 6).
///
/// A present, non-null, non-string value is refused with its Python type name — falsy
/// ones (`false`, `0`, `[]`, `{}`) included. A missing, null or empty image is `None`, which
/// lets the study's image apply.
pub fn job_image(spec: &Map, site: &str) -> Result<Option<String>> {
    match spec.get("image") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::refused(format!(
            "launcher_spec docker image for site {} must be a string, got {}: {}",
            key_repr(site),
            pyval::type_name(other),
            pyval::repr(other)
        ))
        .with_hint(
            "set launcher_spec.<site>.docker.image to an image reference such as \"nvflare/nvflare:2.7.0\"",
        )),
    }
}

/// The python executable for the job (spec §5 step 7): the spec's `python_path`, else
/// `default_python_path`. It must have non-whitespace content; an explicit null fails.
pub fn job_python_path(spec: &Map, site: &str, default_python_path: &str) -> Result<String> {
    let candidate = match spec.get("python_path") {
        Some(v) => pyval::non_blank_str(v),
        None => Some(default_python_path).filter(|s| !s.trim().is_empty()),
    };
    candidate.map(str::to_string).ok_or_else(|| {
        Error::refused(format!(
            "launcher_spec[{}]['docker']['python_path'] must be a non-empty string",
            key_repr(site)
        ))
        .with_hint(
            "use the python executable's path inside the image, or remove the key to use the site default",
        )
    })
}

/// A job `entrypoint` replaces the image's own, so it needs the locally authorised BYOC
/// marker (spec §5 step 9). `byoc` is the truthiness of the job meta's `byoc`.
pub fn check_entrypoint_authorized(spec: &Map, site: &str, byoc: bool) -> Result<()> {
    if spec.contains_key("entrypoint") && !byoc {
        return Err(Error::refused(format!(
            "job Docker spec for site {} contains entrypoint but lacks locally authorized BYOC",
            key_repr(site)
        ))
        .with_hint(
            "submit the job with BYOC (bring-your-own-code) authorization for this site, or remove \
             'entrypoint' from its launcher_spec",
        ));
    }
    Ok(())
}

/// DESIGN decision 16: where an operator launches a job from a meta file on disk (the CLI),
/// the operator's flag is the only BYOC authorisation, because anyone who could write the
/// job folder could have written `byoc: true` into its meta. Sets the meta's `byoc` from
/// `flag` and returns a warning when the file claimed BYOC the flag did not grant. The
/// Python drop-in does not call this: there the parent decides, as upstream.
pub fn authorize_byoc_by_flag(meta: &mut Map, flag: bool) -> Option<String> {
    let claimed = meta.get("byoc").is_some_and(pyval::is_truthy);
    if flag {
        meta.insert("byoc".into(), Value::Bool(true));
        return None;
    }
    meta.shift_remove("byoc");
    claimed.then(|| {
        "the job meta sets 'byoc', which berth ignores: only --byoc authorises bring-your-own-code on the command line".to_string()
    })
}

/// The entries of a job Docker spec that become container options (spec §6.6 step 1).
pub fn job_container_kwargs(spec: &Map) -> Map {
    spec.iter()
        .filter(|(k, _)| JOB_CONTAINER_KWARGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The job Docker spec after every launch-time check, ready for planning.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchDockerSpec {
    /// The resolved spec (only allowlisted keys, all values valid).
    pub spec: Map,
    /// The job's image; `None` when it is missing, null or empty.
    pub image: Option<String>,
    /// The python executable (argv[0]).
    pub python_path: String,
}

/// Spec §5 steps 5–9 in upstream's order: resolve, image type, python_path, allowlist
/// (turned into [`ErrorKind::Refused`]), BYOC for `entrypoint`. Every error is Refused.
pub fn docker_spec_for_launch(
    meta: &Map,
    site: &str,
    default_python_path: &str,
    warnings: &mut Vec<String>,
) -> Result<LaunchDockerSpec> {
    let spec = resolve_docker_spec(meta, site, warnings)?;
    let image = job_image(&spec, site)?;
    let python_path = job_python_path(&spec, site, default_python_path)?;
    validate_job_docker_options(&spec, &format!("job Docker spec for site {}", key_repr(site)))
        .map_err(|e| e.into_kind(ErrorKind::Refused))?;
    let byoc = meta.get("byoc").is_some_and(pyval::is_truthy);
    check_entrypoint_authorized(&spec, site, byoc)?;
    Ok(LaunchDockerSpec {
        spec,
        image,
        python_path,
    })
}

// ---- helpers shared with `resources` and `submission` ----

/// Whether `key` is one of the four launcher modes.
pub(crate) fn is_launcher_mode(key: &str) -> bool {
    LAUNCHER_MODES.contains(&key)
}

/// A `resource_spec` site entry is nested (legacy, per mode) when it has any mode key.
pub(crate) fn is_nested_site_entry(entry: &Map) -> bool {
    entry.keys().any(|k| is_launcher_mode(k))
}

/// Python's `value or {}` for a block that must be a mapping when set: `None` when the
/// value is absent or falsy (an empty mapping included), the mapping when it is a
/// non-empty one, and an error naming `field` for any other truthy value.
pub(crate) fn mapping_or_unset<'a>(
    value: Option<&'a Value>,
    field: &str,
    kind: ErrorKind,
) -> Result<Option<&'a Map>> {
    match value {
        None => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) if !pyval::is_truthy(v) => Ok(None),
        Some(v) => Err(mapping_error(field, v, kind)),
    }
}

/// "`<field>` must be a mapping, got `<type>`", with a hint.
pub(crate) fn mapping_error(field: &str, value: &Value, kind: ErrorKind) -> Error {
    Error::invalid(format!(
        "{field} must be a mapping, got {}",
        pyval::type_name(value)
    ))
    .into_kind(kind)
    .with_hint(format!(
        "write {field} as a JSON object ({{\"key\": value, ...}}) or remove it"
    ))
}

/// A key the way Python prints it in upstream messages: `'site-1'`.
pub(crate) fn key_repr(key: &str) -> String {
    pyval::repr(&Value::String(key.to_string()))
}

/// A list of keys the way Python prints a sorted list of strings, cut short for hostile
/// inputs: `['a', 'b']`.
/// The keys of `map` outside `allowed`, and the allowed set, both sorted and rendered as
/// Python lists; `None` when every key is allowed.
pub(crate) fn unknown_keys(map: &Map, allowed: &[&str]) -> Option<(String, String)> {
    let mut unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort_unstable();
    let mut allowed = allowed.to_vec();
    allowed.sort_unstable();
    Some((py_list(&unknown), py_list(&allowed)))
}

pub(crate) fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    const MAX_SHOWN: usize = 20;
    let mut shown: Vec<String> = items
        .iter()
        .take(MAX_SHOWN)
        .map(|s| key_repr(s.as_ref()))
        .collect();
    if items.len() > MAX_SHOWN {
        shown.push(format!("... {} more", items.len() - MAX_SHOWN));
    }
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use berth_testkit::obj as map;

    fn resolve(meta: Value, site: &str) -> Result<Map> {
        resolve_docker_spec(&map(meta), site, &mut Vec::new())
    }

    const LAUNCH_LABEL: &str = "job Docker spec for site 'site-1'";

    fn validate(spec: Value) -> Result<()> {
        validate_job_docker_options(&map(spec), "docker spec")
    }

    fn assert_invalid(r: Result<()>, phrase: &str) {
        let e = r.expect_err(phrase);
        assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
        assert!(
            e.message().contains(phrase),
            "{:?} does not contain {phrase:?}",
            e.message()
        );
        assert!(e.hint().is_some(), "{e} has no hint");
    }

    /// The launch path: resolve the fixture meta with `extra` merged into the site block,
    /// then run steps 5–9.
    fn launch_with(extra: Value) -> Result<LaunchDockerSpec> {
        let mut docker = map(json!({"image": "nvflare/nvflare:test"}));
        docker.extend(map(extra));
        let meta = json!({"job_id": "job-1", "launcher_spec": {"site-1": {"docker": docker}}});
        docker_spec_for_launch(&map(meta), "site-1", crate::DEFAULT_PYTHON_PATH, &mut Vec::new())
    }

    fn assert_launch_refused(extra: Value, phrases: &[&str]) {
        let e = launch_with(extra.clone()).expect_err("launch must be refused");
        assert_eq!(e.kind(), ErrorKind::Refused, "{extra}: {e}");
        for p in phrases {
            assert!(e.message().contains(p), "{extra}: {:?} lacks {p:?}", e.message());
        }
    }

    // ---- §4.2 allowlist, launch label (section O) ----

    #[test]
    fn c091_job_device_requests_are_refused_even_with_num_of_gpus() {
        // C091
        let extra = json!({"num_of_gpus": 1, "device_requests": [{"Count": 4, "Capabilities": [["gpu"]]}]});
        assert_launch_refused(
            extra.clone(),
            &["unsupported job-controlled Docker option", "'device_requests'"],
        );
        let mut spec = map(json!({"image": "x"}));
        spec.extend(map(extra));
        let e = validate_job_docker_options(&spec, LAUNCH_LABEL).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e.message().starts_with(LAUNCH_LABEL));
        assert!(e.message().contains("['device_requests']"), "{e}");
        assert!(
            e.message()
                .contains("['entrypoint', 'image', 'num_of_gpus', 'python_path', 'shm_size']"),
            "{e}"
        );
    }

    #[test]
    fn c092_to_c099_isolation_sensitive_job_options_are_refused() {
        // C092 privileged, C093 pid_mode, C094 ipc_mode, C095 devices, C096 cap_add,
        // C097 security_opt, C098 network_mode, C099 volumes
        for key in [
            "privileged",
            "pid_mode",
            "ipc_mode",
            "devices",
            "cap_add",
            "security_opt",
            "network_mode",
            "volumes",
        ] {
            let extra = json!({ key: "attacker-controlled" });
            assert_launch_refused(extra.clone(), &["unsupported job-controlled Docker option", key]);
            let mut spec = map(json!({"image": "x"}));
            spec.extend(map(extra));
            assert_invalid(
                validate_job_docker_options(&spec, LAUNCH_LABEL),
                "unsupported job-controlled Docker option",
            );
        }
    }

    #[test]
    fn unknown_keys_are_listed_sorted() {
        let e = validate(json!({"volumes": 1, "cap_add": 1, "image": 5, "Privileged": 1})).unwrap_err();
        assert!(
            e.message().contains("['Privileged', 'cap_add', 'volumes']"),
            "{e}"
        );
    }

    #[test]
    fn only_the_flag_authorises_byoc() {
        let mut meta = map(json!({"job_id": "j", "byoc": true}));
        let warning = authorize_byoc_by_flag(&mut meta, false).expect("warning");
        assert!(warning.contains("--byoc"), "{warning}");
        assert!(!meta.contains_key("byoc"));
        let mut meta = map(json!({"job_id": "j", "byoc": false}));
        assert_eq!(authorize_byoc_by_flag(&mut meta, false), None);
        assert!(!meta.contains_key("byoc"));
        let mut meta = map(json!({"job_id": "j"}));
        assert_eq!(authorize_byoc_by_flag(&mut meta, true), None);
        assert_eq!(meta["byoc"], json!(true));
        let mut meta = map(json!({"job_id": "j", "byoc": "yes"}));
        assert!(authorize_byoc_by_flag(&mut meta, false).is_some());
    }

    #[test]
    fn c100_entrypoint_without_byoc_is_refused() {
        // C100: the allowlist accepts it; the BYOC check refuses it.
        assert!(validate_job_docker_options(&map(json!({"entrypoint": "/bin/sh"})), LAUNCH_LABEL).is_ok());
        let e = launch_with(json!({"entrypoint": "/bin/sh"})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(e.message().contains("job Docker spec for site 'site-1'"), "{e}");
        assert!(e.message().contains("lacks locally authorized BYOC"), "{e}");
    }

    #[test]
    fn c107_entrypoint_with_byoc_is_forwarded() {
        // C107 (the checks part): with byoc the spec passes and entrypoint is a container kwarg.
        let meta = json!({"job_id": "job-1", "byoc": true, "launcher_spec": {"site-1": {"docker": {
            "image": "nvflare/nvflare:test", "entrypoint": ["/bin/sh", "-c"]}}}});
        let s = docker_spec_for_launch(&map(meta), "site-1", crate::DEFAULT_PYTHON_PATH, &mut Vec::new())
            .unwrap();
        assert_eq!(s.python_path, "/usr/local/bin/python");
        assert_eq!(
            job_container_kwargs(&s.spec),
            map(json!({"entrypoint": ["/bin/sh", "-c"]}))
        );
    }

    #[test]
    fn c101_to_c106_invalid_num_of_gpus_is_refused() {
        // C101 True, C102 False, C103 "1", C104 1.5, C105 -1, C106 null
        for bad in [
            json!(true),
            json!(false),
            json!("1"),
            json!(1.5),
            json!(-1),
            json!(null),
        ] {
            assert_launch_refused(
                json!({ "num_of_gpus": bad }),
                &[
                    "field 'num_of_gpus'",
                    "must be an integer greater than or equal to 0",
                ],
            );
            assert_invalid(
                validate_job_docker_options(&map(json!({ "num_of_gpus": bad })), LAUNCH_LABEL),
                "num_of_gpus' must be an integer greater than or equal to 0",
            );
        }
        // Beyond i64 cannot be sent to the Engine API.
        assert_invalid(validate(json!({"num_of_gpus": u64::MAX})), "field 'num_of_gpus'");
        assert!(validate(json!({"num_of_gpus": 0})).is_ok());
        assert!(validate(json!({"num_of_gpus": 8})).is_ok());
    }

    // ---- §4.2 validator (section V2) ----

    #[test]
    fn c231_to_c242_valid_values_are_accepted() {
        // C231 image null; C232–C239 shm_size; C240–C242 entrypoint
        for spec in [
            json!({"image": null}),
            json!({"shm_size": 0}),
            json!({"shm_size": 1024}),
            json!({"shm_size": 9_223_372_036_854_775_807_i64}),
            json!({"shm_size": "8g"}),
            json!({"shm_size": "8gb"}),
            json!({"shm_size": "8B"}),
            json!({"shm_size": "8.5g"}),
            json!({"shm_size": "0.5gb"}),
            json!({"entrypoint": "/usr/bin/env"}),
            json!({"entrypoint": ["/usr/bin/env"]}),
            json!({"entrypoint": ["/bin/sh", "-c"]}),
        ] {
            assert!(validate(spec.clone()).is_ok(), "{spec}");
        }
    }

    #[test]
    fn c243_to_c254_invalid_shm_size_is_rejected() {
        // C243 dict, C244 list, C245 abc, C246 8., C247 .5g, C248 8bb, C249 8BB,
        // C250 "2^63", C251 400 nines, C252 -1, C253 int 2^63, C254 True
        for bad in [
            json!({"unexpected": 1}),
            json!(["8g"]),
            json!("abc"),
            json!("8."),
            json!(".5g"),
            json!("8bb"),
            json!("8BB"),
            json!("9223372036854775808"),
            json!("9".repeat(400)),
            json!(-1),
            json!(9_223_372_036_854_775_808_u64),
            json!(true),
        ] {
            let r = validate(json!({ "shm_size": bad }));
            assert_invalid(r.clone(), "field 'shm_size'");
            assert_invalid(
                r,
                "must be a non-negative integer or decimal byte-size string within Docker's signed 64-bit limit",
            );
        }
    }

    #[test]
    fn c255_to_c260_invalid_entrypoint_is_rejected() {
        // C255 dict, C256 int, C257 nested list, C258 "", C259 blank, C260 blank item
        for bad in [
            json!({"unexpected": 1}),
            json!(123),
            json!([["/usr/bin/env"]]),
            json!(""),
            json!("   "),
            json!(["/bin/sh", "   "]),
            json!([]),
            json!(null),
        ] {
            assert_invalid(
                validate(json!({ "entrypoint": bad })),
                "field 'entrypoint' must be a non-empty string or a non-empty list of non-empty strings",
            );
        }
    }

    #[test]
    fn c261_image_must_be_string_or_null() {
        // C261
        assert_invalid(validate(json!({"image": 123})), "must be a string or null");
    }

    #[test]
    fn c262_c263_python_path_must_be_non_blank() {
        // C262, C263
        assert_invalid(validate(json!({"python_path": ""})), "must be a non-empty string");
        assert_invalid(
            validate(json!({"python_path": "   "})),
            "must be a non-empty string",
        );
        assert_invalid(validate(json!({"python_path": null})), "field 'python_path'");
    }

    #[test]
    fn first_failing_field_in_insertion_order_is_reported() {
        let e = validate(json!({"shm_size": "bad", "num_of_gpus": -1})).unwrap_err();
        assert!(e.message().contains("field 'shm_size'"), "{e}");
        let e = validate(json!({"num_of_gpus": -1, "shm_size": "bad"})).unwrap_err();
        assert!(e.message().contains("field 'num_of_gpus'"), "{e}");
    }

    // ---- §5 steps 6, 7 (sections H, N) ----

    #[test]
    fn c048_to_c057_non_string_image_is_refused_with_its_type() {
        // C048 123, C049 1.5, C050 True, C051 list, C052 dict, C053 False, C054 0,
        // C055 0.0, C056 [], C057 {}
        for (bad, ty) in [
            (json!(123), "int"),
            (json!(1.5), "float"),
            (json!(true), "bool"),
            (json!(["nvflare-job", "latest"]), "list"),
            (json!({"name": "nvflare-job"}), "dict"),
            (json!(false), "bool"),
            (json!(0), "int"),
            (json!(0.0), "float"),
            (json!([]), "list"),
            (json!({}), "dict"),
        ] {
            let phrase = format!("launcher_spec docker image for site 'site-1' must be a string, got {ty}");
            assert_launch_refused(json!({ "image": bad }), &[phrase.as_str()]);
        }
    }

    #[test]
    fn missing_null_or_empty_image_is_unset() {
        for img in [json!(null), json!("")] {
            assert_eq!(job_image(&map(json!({ "image": img })), "s").unwrap(), None);
        }
        assert_eq!(job_image(&Map::new(), "s").unwrap(), None);
        assert_eq!(
            job_image(&map(json!({"image": "a:b"})), "s").unwrap().as_deref(),
            Some("a:b")
        );
    }

    #[test]
    fn c089_c090_python_path() {
        // C089: the job's python_path wins over the site default.
        let spec = map(json!({"python_path": "/opt/conda/bin/python"}));
        assert_eq!(
            job_python_path(&spec, "site-1", "/usr/bin/python").unwrap(),
            "/opt/conda/bin/python"
        );
        assert_eq!(
            job_python_path(&Map::new(), "site-1", "/usr/bin/python").unwrap(),
            "/usr/bin/python"
        );
        // C090: blank is refused before the allowlist runs (step 7 precedes step 8).
        for bad in [json!("   "), json!(null), json!(5)] {
            assert_launch_refused(
                json!({ "python_path": bad }),
                &["python_path", "must be a non-empty string"],
            );
        }
        let e = launch_with(json!({"python_path": "  ", "privileged": true})).unwrap_err();
        assert!(e.message().contains("python_path"), "{e}");
    }

    #[test]
    fn step_order_image_type_before_allowlist() {
        let e = launch_with(json!({"image": 5, "privileged": true})).unwrap_err();
        assert!(e.message().contains("must be a string, got int"), "{e}");
    }

    // ---- §4.1 resolution (section V3 and C058, C110, C111) ----

    #[test]
    fn c264_site_mode_match() {
        // C264
        let meta = json!({"launcher_spec": {"site-1": {"docker": {"image": "repo/img:v1"}}}});
        assert_eq!(
            resolve(meta, "site-1").unwrap(),
            map(json!({"image": "repo/img:v1"}))
        );
    }

    #[test]
    fn c265_site_not_present_is_empty() {
        // C265
        let meta = json!({"launcher_spec": {"site-1": {"docker": {"image": "repo/img:v1"}}}});
        assert_eq!(resolve(meta, "site-2").unwrap(), Map::new());
    }

    #[test]
    fn c266_mode_not_present_is_empty() {
        // C266
        let meta = json!({"launcher_spec": {"site-1": {"k8s": {"image": "k/img"}}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), Map::new());
    }

    #[test]
    fn c267_c058_default_used_when_no_site_entry() {
        // C267, C058
        let meta = json!({"launcher_spec": {"default": {"docker": {"image": "default/img:v1"}}}});
        assert_eq!(
            resolve(meta, "site-1").unwrap(),
            map(json!({"image": "default/img:v1"}))
        );
    }

    #[test]
    fn c268_site_overrides_default_shallowly() {
        // C268
        let meta = json!({"launcher_spec": {
            "default": {"docker": {"image": "default/img:v1", "shm_size": "4g"}},
            "site-1": {"docker": {"image": "site/img:v1"}}}});
        assert_eq!(
            resolve(meta, "site-1").unwrap(),
            map(json!({"image": "site/img:v1", "shm_size": "4g"}))
        );
    }

    #[test]
    fn c269_default_only_applies_to_matching_mode() {
        // C269
        let meta = json!({"launcher_spec": {"default": {"k8s": {"image": "k"}}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), Map::new());
    }

    #[test]
    fn c270_c047_fallback_to_nested_resource_spec() {
        // C270
        let meta = json!({"resource_spec": {"site-1": {"docker": {"image": "nested/img:v1"}}}});
        assert_eq!(
            resolve(meta, "site-1").unwrap(),
            map(json!({"image": "nested/img:v1"}))
        );
        // C047: an empty legacy block resolves to no image.
        let meta = map(json!({"resource_spec": {"site-1": {"docker": {}}}}));
        let spec = resolve_docker_spec(&meta, "site-1", &mut Vec::new()).unwrap();
        assert_eq!(job_image(&spec, "site-1").unwrap(), None);
    }

    #[test]
    fn c271_empty_meta_is_empty() {
        // C271
        assert_eq!(resolve(json!({}), "site-1").unwrap(), Map::new());
    }

    #[test]
    fn c272_launcher_spec_wins_over_resource_spec() {
        // C272
        let meta = json!({
            "launcher_spec": {"site-1": {"docker": {"image": "new/img"}}},
            "resource_spec": {"site-1": {"docker": {"image": "old/img"}}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "new/img"})));
    }

    #[test]
    fn c273_fallback_is_per_site() {
        // C273
        let meta = json!({
            "launcher_spec": {"site-2": {"docker": {"image": "new/img"}}},
            "resource_spec": {"site-1": {"docker": {"image": "old/img"}}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "old/img"})));
    }

    #[test]
    fn c274_fallback_is_per_mode() {
        // C274
        let meta = json!({
            "launcher_spec": {"site-1": {"k8s": {"image": "k8s/img"}}},
            "resource_spec": {"site-1": {"docker": {"image": "old/img"}}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "old/img"})));
    }

    #[test]
    fn c275_fallback_for_other_modes() {
        // C275 (slurm), and a flat entry is the process spec
        let meta = map(json!({"resource_spec": {"site-1": {"slurm": {"nodes": 2}}}}));
        let got = resolve_launcher_spec(&meta, "site-1", "slurm", &mut Vec::new()).unwrap();
        assert_eq!(got, map(json!({"nodes": 2})));
        let meta = map(json!({"resource_spec": {"site-1": {"num_of_gpus": 2}}}));
        let got = resolve_launcher_spec(&meta, "site-1", "process", &mut Vec::new()).unwrap();
        assert_eq!(got, map(json!({"num_of_gpus": 2})));
    }

    #[test]
    fn explicit_empty_site_block_blocks_fallback_but_empty_default_does_not() {
        let rs = json!({"site-1": {"docker": {"image": "old/img"}}});
        let meta = json!({"launcher_spec": {"site-1": {"docker": {}}}, "resource_spec": rs});
        assert_eq!(resolve(meta, "site-1").unwrap(), Map::new());
        // A falsy non-null block also counts as present, as upstream.
        let meta = json!({"launcher_spec": {"site-1": {"docker": []}}, "resource_spec": rs});
        assert_eq!(resolve(meta, "site-1").unwrap(), Map::new());
        let meta = json!({"launcher_spec": {"default": {"docker": {}}}, "resource_spec": rs});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "old/img"})));
        let meta = json!({"launcher_spec": {"site-1": {"docker": null}}, "resource_spec": rs});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "old/img"})));
    }

    #[test]
    fn c110_flat_gpus_beside_mode_keys_resolve_to_legacy_image_only() {
        // C110 (resolver part; the portable side is in resources.rs)
        let meta =
            json!({"resource_spec": {"site-1": {"docker": {"image": "nvflare:test"}, "num_of_gpus": 2}}});
        assert_eq!(
            resolve(meta, "site-1").unwrap(),
            map(json!({"image": "nvflare:test"}))
        );
    }

    #[test]
    fn c111_default_image_with_flat_resource_spec() {
        // C111 (resolver part): a flat resource_spec entry is not a docker block.
        let meta = json!({"launcher_spec": {"default": {"docker": {"image": "d/img"}}},
                          "resource_spec": {"site-1": {"num_of_gpus": 2}}});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "d/img"})));
    }

    #[test]
    fn a_site_named_default_in_resource_spec_is_a_site() {
        let meta = json!({"resource_spec": {"default": {"docker": {"image": "for/site-default"}}}});
        assert_eq!(resolve(meta.clone(), "site-1").unwrap(), Map::new());
        assert_eq!(
            resolve(meta, "default").unwrap(),
            map(json!({"image": "for/site-default"}))
        );
    }

    #[test]
    fn non_mapping_blocks_are_refused_by_name() {
        for (meta, phrase) in [
            (
                json!({"launcher_spec": ["x"]}),
                "launcher_spec must be a mapping, got list",
            ),
            (
                json!({"launcher_spec": "abc"}),
                "launcher_spec must be a mapping, got str",
            ),
            (
                json!({"launcher_spec": 5}),
                "launcher_spec must be a mapping, got int",
            ),
            (
                json!({"launcher_spec": {"site-1": "docker"}}),
                "launcher_spec['site-1'] must be a mapping, got str",
            ),
            (
                json!({"launcher_spec": {"site-1": {"docker": ["image"]}}}),
                "launcher_spec['site-1']['docker'] must be a mapping, got list",
            ),
            (
                json!({"launcher_spec": {"default": {"docker": "img"}}}),
                "launcher_spec['default']['docker'] must be a mapping, got str",
            ),
            (
                json!({"launcher_spec": {"default": [1]}}),
                "launcher_spec['default'] must be a mapping, got list",
            ),
            (
                json!({"resource_spec": 3}),
                "resource_spec must be a mapping, got int",
            ),
            (
                json!({"resource_spec": {"site-1": [1]}}),
                "resource_spec['site-1'] must be a mapping, got list",
            ),
            (
                json!({"resource_spec": {"site-1": {"docker": null}}}),
                "resource_spec['site-1']['docker'] must be a mapping, got NoneType",
            ),
            (
                json!({"resource_spec": {"site-1": {"docker": "x"}}}),
                "resource_spec['site-1']['docker'] must be a mapping, got str",
            ),
        ] {
            let e = resolve(meta.clone(), "site-1").expect_err(phrase);
            assert_eq!(e.kind(), ErrorKind::Refused, "{meta}");
            assert!(e.message().contains(phrase), "{meta}: {e}");
            assert!(e.hint().is_some());
        }
    }

    #[test]
    fn falsy_non_mapping_blocks_read_as_unset() {
        for meta in [
            json!({"launcher_spec": []}),
            json!({"launcher_spec": 0}),
            json!({"launcher_spec": null, "resource_spec": ""}),
            json!({"launcher_spec": {"site-1": false}}),
            json!({"launcher_spec": {"default": {"docker": 0}}}),
            json!({"resource_spec": {"site-1": null}}),
        ] {
            assert_eq!(resolve(meta.clone(), "site-1").unwrap(), Map::new(), "{meta}");
        }
    }

    #[test]
    fn unrelated_malformed_blocks_do_not_matter() {
        // Only the blocks on the resolution path are read.
        let meta = json!({"launcher_spec": {"site-2": "junk", "site-1": {"docker": {"image": "a"}}},
                          "resource_spec": "junk"});
        assert_eq!(resolve(meta, "site-1").unwrap(), map(json!({"image": "a"})));
    }

    // ---- §4.1 step 2 typo detection (section V5) ----

    fn suspicious(ls: Value) -> Vec<String> {
        suspicious_launcher_spec_keys(&map(ls))
    }

    #[test]
    fn c324_clean_spec_has_no_suspicious_keys() {
        // C324
        assert!(suspicious(json!({"default": {"docker": {}}, "site-1": {"docker": {}}})).is_empty());
    }

    #[test]
    fn c325_c326_c327_typos_are_flagged() {
        // C325, C326, C327
        assert_eq!(
            suspicious(json!({"defaults": {"docker": {"image": "x"}}})),
            ["defaults"]
        );
        assert_eq!(
            suspicious(json!({"defaul": {"docker": {"image": "x"}}})),
            ["defaul"]
        );
        assert_eq!(
            suspicious(json!({"defaults": {"slurm": {"nodes": 2}}})),
            ["defaults"]
        );
        assert_eq!(
            suspicious(json!({"d": {}, "default-x": {"k8s": {}}})),
            ["d", "default-x"]
        );
    }

    #[test]
    fn c328_c329_c330_not_flagged() {
        // C328, C329, C330
        assert!(suspicious(json!({"default": {"docker": {}}})).is_empty());
        assert!(suspicious(json!({"site-1": {"docker": {}}})).is_empty());
        assert!(suspicious(json!({"defaults": "not-a-dict"})).is_empty());
        // A value with a non-mode key looks like something else, not a misspelt default block.
        assert!(suspicious(json!({"defaults": {"docker": {}, "image": "x"}})).is_empty());
    }

    #[test]
    fn c331_warning_is_emitted_and_resolution_still_runs() {
        // C331
        let meta = map(json!({"launcher_spec": {"defaults": {"docker": {"image": "x"}}}}));
        let mut warnings = Vec::new();
        let spec = resolve_docker_spec(&meta, "site-1", &mut warnings).unwrap();
        assert_eq!(spec, Map::new());
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("'defaults'") && warnings[0].contains("misspelling"),
            "{warnings:?}"
        );
        // The key is still a site name.
        let spec = resolve_docker_spec(&meta, "defaults", &mut Vec::new()).unwrap();
        assert_eq!(spec, map(json!({"image": "x"})));
    }

    #[test]
    fn container_kwargs_are_entrypoint_and_shm_size_only() {
        let spec = map(json!({"image": "i", "python_path": "p", "num_of_gpus": 1, "shm_size": "8g"}));
        assert_eq!(job_container_kwargs(&spec), map(json!({"shm_size": "8g"})));
    }
}
