//! Submission-time job meta validation (spec §4.4): the shape of `launcher_spec` and
//! `resource_spec`, portable values, legacy nested GPU consistency, portable/native
//! conflicts and the job Docker allowlist. The launcher does not call this (jobs stored
//! before an upgrade never went through it, so the launcher re-checks the allowlist itself);
//! `berth plan --check-submission` and the corpus do.
//!
//! K8s and Slurm blocks are checked for shape and for the key-presence rules (conflicts,
//! GPU totals) but not for their own value rules, which belong to those launchers.

use crate::job_spec::{
    is_launcher_mode, is_nested_site_entry, key_repr, py_list, resolve_launcher_spec, unknown_keys,
    validate_job_docker_options, DOCKER_MODE, LAUNCHER_MODES, LAUNCHER_SPEC_DEFAULT_KEY,
};
use crate::pyval::{self, Map};
use crate::resources::{
    portable_resources, resource_spec, site_entry, validate_portable_values, PORTABLE_DEFAULT_KEY,
    PORTABLE_KEYS,
};
use crate::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::BTreeSet;

/// A portable key and the native fields of one launcher mode that express the same thing.
type NativeEquivalents = (&'static str, &'static [&'static str]);

/// For each launcher mode, the native fields that express the same thing as a portable
/// key. Setting both is a conflict.
const PORTABLE_NATIVE_KEYS: [(&str, &[NativeEquivalents]); 3] = [
    (
        "docker",
        &[
            ("num_of_gpus", &["device_requests", "num_of_gpus"]),
            ("num_of_cpus", &["nano_cpus"]),
            ("memory", &["mem_limit"]),
        ],
    ),
    (
        "k8s",
        &[
            ("num_of_gpus", &["num_of_gpus"]),
            ("num_of_cpus", &["cpu", "cpu_request"]),
            ("memory", &["memory", "memory_request"]),
        ],
    ),
    (
        "slurm",
        &[("num_of_cpus", &["cpus_per_node"]), ("memory", &["mem_per_node"])],
    ),
];

/// Every submission-time check that concerns the Docker launcher and portable resources,
/// in this order (the first failure is reported, [`ErrorKind::Invalid`]):
///
/// 1. shape: [`validate_spec_shapes`];
/// 2. portable values: [`validate_portable_resource_spec`];
/// 3. legacy nested GPU consistency: [`validate_legacy_gpu_consistency`];
/// 4. portable/native conflicts: [`validate_portable_conflicts`];
/// 5. the job Docker allowlist on every docker block: [`validate_docker_blocks`].
///
/// Conflicts come before the allowlist so that a portable `num_of_gpus` beside a docker
/// `device_requests` is reported as the conflict it is.
pub fn validate_job_meta(meta: &Map) -> Result<()> {
    validate_spec_shapes(meta)?;
    validate_portable_resource_spec(meta)?;
    validate_legacy_gpu_consistency(meta)?;
    validate_portable_conflicts(meta)?;
    validate_docker_blocks(meta)
}

/// `launcher_spec` is a mapping of site (or `default`) to a mapping of launcher mode
/// (`process`, `docker`, `k8s`, `slurm`) to a mapping. `resource_spec` is a mapping of site
/// (or `@default`) to a mapping, and each mode sub-block of a nested entry is a mapping.
/// Unset or falsy top-level specs and site entries are allowed (they read as empty).
pub fn validate_spec_shapes(meta: &Map) -> Result<()> {
    if let Some(ls) = launcher_spec(meta)? {
        for (site, entry) in ls {
            let entry_label = format!("launcher_spec[{}]", key_repr(site));
            let Some(entry) = entry_mapping(entry, &entry_label)? else {
                continue;
            };
            for (mode, block) in entry {
                if !is_launcher_mode(mode) {
                    return Err(Error::invalid(format!(
                        "{entry_label} has unsupported launcher mode {}; allowed modes are {}",
                        key_repr(mode),
                        py_list(&sorted_modes())
                    ))
                    .with_hint(format!(
                        "launcher_spec maps each site name (or 'default') to launcher modes, e.g. \
                         {{\"{site}\": {{\"docker\": {{\"image\": \"...\"}}}}}}"
                    )));
                }
                require_mapping(block, &format!("{entry_label}[{}]", key_repr(mode)))?;
            }
        }
    }
    if let Some(rs) = resource_spec(meta)? {
        for site in rs.keys() {
            let Some(entry) = site_entry(Some(rs), site)? else {
                continue;
            };
            if site == PORTABLE_DEFAULT_KEY || !is_nested_site_entry(entry) {
                continue;
            }
            for mode in LAUNCHER_MODES {
                if let Some(block) = entry.get(mode) {
                    require_mapping(
                        block,
                        &format!("resource_spec[{}][{}]", key_repr(site), key_repr(mode)),
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Portable values (spec §4.3): `@default` may hold only the three portable keys, and
/// every present portable value is valid — in `@default`, and in each site's effective
/// block (its process view when `@default` exists; flat entries otherwise; legacy nested
/// entries without `@default` are left alone).
pub fn validate_portable_resource_spec(meta: &Map) -> Result<()> {
    let Some(rs) = resource_spec(meta)? else {
        return Ok(());
    };
    let default_label = format!("resource_spec[{}]", key_repr(PORTABLE_DEFAULT_KEY));
    let has_default = rs.contains_key(PORTABLE_DEFAULT_KEY);
    if let Some(default) = site_entry(Some(rs), PORTABLE_DEFAULT_KEY)? {
        if let Some((unknown, allowed)) = unknown_keys(default, &PORTABLE_KEYS) {
            return Err(Error::invalid(format!(
                "{default_label} contains unsupported field(s) {unknown}; allowed fields are {allowed}"
            ))
            .with_hint("move site-specific or custom resources into the site's own resource_spec entry"));
        }
        validate_portable_values(default, &default_label)?;
    }
    for site in rs.keys().filter(|s| s.as_str() != PORTABLE_DEFAULT_KEY) {
        let Some(entry) = site_entry(Some(rs), site)? else {
            continue;
        };
        let effective = if is_nested_site_entry(entry) {
            if !has_default {
                // Legacy nested specs keep their old, launcher-specific meaning.
                continue;
            }
            match entry.get("process").and_then(Value::as_object) {
                Some(process) => process,
                None => continue,
            }
        } else {
            entry
        };
        validate_portable_values(effective, &format!("resource_spec[{}]", key_repr(site)))?;
    }
    Ok(())
}

/// Legacy nested GPU consistency: a site whose nested `resource_spec` entry has
/// `process.num_of_gpus` must ask every launcher for that same count — docker and k8s
/// `num_of_gpus`, Slurm `nodes × gpus_per_node` — and may not also carry docker
/// `device_requests`. The launcher specs are the resolved ones (launcher_spec, else the
/// legacy nested block).
pub fn validate_legacy_gpu_consistency(meta: &Map) -> Result<()> {
    let Some(rs) = resource_spec(meta)? else {
        return Ok(());
    };
    for site in rs.keys().filter(|s| s.as_str() != PORTABLE_DEFAULT_KEY) {
        let Some(process_gpus) = legacy_process_gpus(rs, site)? else {
            continue;
        };
        let docker = resolve(meta, site, DOCKER_MODE)?;
        if docker.contains_key("device_requests") {
            return Err(Error::invalid(format!(
                "legacy process num_of_gpus for site {} cannot be combined with docker device_requests",
                key_repr(site)
            ))
            .with_hint("state the GPU count once: use num_of_gpus and remove device_requests"));
        }
        for mode in [DOCKER_MODE, "k8s"] {
            let native = if mode == DOCKER_MODE {
                docker.clone()
            } else {
                resolve(meta, site, mode)?
            };
            if let Some(n) = native.get("num_of_gpus") {
                if !same_count(n, process_gpus) {
                    return Err(gpu_mismatch(
                        site,
                        process_gpus,
                        &format!("{mode} num_of_gpus"),
                        n,
                    ));
                }
            }
        }
        let slurm = resolve(meta, site, "slurm")?;
        if let Some(per_node) = slurm.get("gpus_per_node").and_then(pyval::as_int) {
            let nodes = match slurm.get("nodes") {
                None => Some(1),
                Some(v) => pyval::as_int(v),
            };
            if let Some(total) = nodes.and_then(|n| n.checked_mul(per_node)) {
                if !same_count(&Value::from(total), process_gpus) {
                    return Err(gpu_mismatch(
                        site,
                        process_gpus,
                        "slurm total GPUs (nodes × gpus_per_node)",
                        &Value::from(total),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Portable fields and their native launcher equivalents may not both be set (spec §4.4):
/// for each site (resolved portable resources against each resolved launcher spec), and
/// for the `@default` / `default` pair. A legacy nested `process.num_of_gpus` waives the
/// GPU conflict for its site: [`validate_legacy_gpu_consistency`] has checked that the
/// counts agree.
pub fn validate_portable_conflicts(meta: &Map) -> Result<()> {
    let rs = resource_spec(meta)?;
    let ls = launcher_spec(meta)?;
    let sites: BTreeSet<&str> = rs
        .into_iter()
        .flat_map(|rs| rs.keys())
        .filter(|s| s.as_str() != PORTABLE_DEFAULT_KEY)
        .chain(
            ls.into_iter()
                .flat_map(|ls| ls.keys())
                .filter(|s| s.as_str() != LAUNCHER_SPEC_DEFAULT_KEY),
        )
        .map(String::as_str)
        .collect();
    for site in sites {
        let portable = portable_resources(meta, site)?;
        let present = |key: &str| match key {
            "num_of_gpus" => portable.num_of_gpus.is_some(),
            "num_of_cpus" => portable.num_of_cpus.is_some(),
            _ => portable.memory_bytes.is_some(),
        };
        let legacy_gpus = legacy_process_gpus_of(meta, site)?.is_some();
        for (mode, pairs) in PORTABLE_NATIVE_KEYS {
            let native = resolve(meta, site, mode)?;
            for (portable_key, native_keys) in pairs {
                if !present(portable_key) || (*portable_key == "num_of_gpus" && legacy_gpus) {
                    continue;
                }
                let clash: Vec<&str> = native_keys
                    .iter()
                    .copied()
                    .filter(|k| native.contains_key(*k))
                    .collect();
                if !clash.is_empty() {
                    return Err(conflict(
                        portable_key,
                        mode,
                        &clash,
                        &format!("for site {}", key_repr(site)),
                    ));
                }
            }
        }
    }

    let default_portable = rs
        .and_then(|rs| rs.get(PORTABLE_DEFAULT_KEY))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    let default_launcher = ls
        .and_then(|ls| ls.get(LAUNCHER_SPEC_DEFAULT_KEY))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if let (Some(portable), Some(launcher)) = (default_portable, default_launcher) {
        for (mode, pairs) in PORTABLE_NATIVE_KEYS {
            let Some(native) = launcher.get(mode).and_then(Value::as_object) else {
                continue;
            };
            for (portable_key, native_keys) in pairs {
                if !portable.contains_key(*portable_key) {
                    continue;
                }
                let clash: Vec<&str> = native_keys
                    .iter()
                    .copied()
                    .filter(|k| native.contains_key(*k))
                    .collect();
                if !clash.is_empty() {
                    return Err(conflict(portable_key, mode, &clash, "in the default blocks"));
                }
            }
        }
    }
    Ok(())
}

/// Every docker block a job carries — `launcher_spec[site]['docker']` (including
/// `default`) and legacy `resource_spec[site]['docker']` — passes the job Docker allowlist
/// (spec §4.2).
pub fn validate_docker_blocks(meta: &Map) -> Result<()> {
    if let Some(ls) = launcher_spec(meta)? {
        for (site, entry) in ls {
            if let Some(block) = entry.get(DOCKER_MODE).and_then(Value::as_object) {
                validate_job_docker_options(block, &format!("launcher_spec[{}]['docker']", key_repr(site)))?;
            }
        }
    }
    if let Some(rs) = resource_spec(meta)? {
        for (site, entry) in rs {
            if site == PORTABLE_DEFAULT_KEY {
                continue;
            }
            if let Some(block) = entry.get(DOCKER_MODE).and_then(Value::as_object) {
                validate_job_docker_options(block, &format!("resource_spec[{}]['docker']", key_repr(site)))?;
            }
        }
    }
    Ok(())
}

// ---- helpers ----

fn launcher_spec(meta: &Map) -> Result<Option<&Map>> {
    entry_mapping_opt(meta.get("launcher_spec"), "launcher_spec")
}

fn entry_mapping_opt<'a>(v: Option<&'a Value>, label: &str) -> Result<Option<&'a Map>> {
    match v {
        None => Ok(None),
        Some(v) => entry_mapping(v, label),
    }
}

/// Python's `v or {}` for a mapping-valued entry: falsy reads as unset, any other
/// non-mapping is an error.
fn entry_mapping<'a>(v: &'a Value, label: &str) -> Result<Option<&'a Map>> {
    crate::job_spec::mapping_or_unset(Some(v), label, ErrorKind::Invalid)
}

/// Launcher mode blocks at submission must be real mappings (no null, no `[]`).
fn require_mapping(v: &Value, label: &str) -> Result<()> {
    if v.is_object() {
        Ok(())
    } else {
        Err(crate::job_spec::mapping_error(label, v, ErrorKind::Invalid))
    }
}

fn sorted_modes() -> [&'static str; 4] {
    let mut modes = LAUNCHER_MODES;
    modes.sort_unstable();
    modes
}

/// The resolved launcher spec, with resolution errors reported as invalid input.
fn resolve(meta: &Map, site: &str, mode: &str) -> Result<Map> {
    resolve_launcher_spec(meta, site, mode, &mut Vec::new()).map_err(|e| e.into_kind(ErrorKind::Invalid))
}

/// `resource_spec[site]['process']['num_of_gpus']` of a nested entry, if any.
fn legacy_process_gpus<'a>(rs: &'a Map, site: &str) -> Result<Option<&'a Value>> {
    let Some(entry) = site_entry(Some(rs), site)? else {
        return Ok(None);
    };
    if !is_nested_site_entry(entry) {
        return Ok(None);
    }
    Ok(entry
        .get("process")
        .and_then(Value::as_object)
        .and_then(|p| p.get("num_of_gpus")))
}

fn legacy_process_gpus_of<'a>(meta: &'a Map, site: &str) -> Result<Option<&'a Value>> {
    match resource_spec(meta)? {
        Some(rs) => legacy_process_gpus(rs, site),
        None => Ok(None),
    }
}

/// Two GPU counts agree: equal integers, or otherwise identical JSON values.
fn same_count(a: &Value, b: &Value) -> bool {
    match (pyval::as_int(a), pyval::as_int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn gpu_mismatch(site: &str, process_gpus: &Value, what: &str, native: &Value) -> Error {
    Error::invalid(format!(
        "legacy process num_of_gpus ({}) for site {} does not match {what} ({})",
        pyval::repr(process_gpus),
        key_repr(site),
        pyval::repr(native)
    ))
    .with_hint("make the counts equal, or state the GPU count once with a portable num_of_gpus")
}

fn conflict(portable_key: &str, mode: &str, clash: &[&str], scope: &str) -> Error {
    Error::invalid(format!(
        "portable resource '{portable_key}' conflicts with launcher_spec {mode} field(s) {} {scope}",
        py_list(clash)
    ))
    .with_hint(format!(
        "state it once: keep resource_spec's '{portable_key}' and remove {} from the {mode} block, or the reverse",
        py_list(clash)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use berth_testkit::obj as map;

    fn check(meta: Value) -> Result<()> {
        validate_job_meta(&map(meta))
    }

    fn assert_invalid(meta: Value, phrase: &str) {
        let e = check(meta.clone()).expect_err(phrase);
        assert_eq!(e.kind(), ErrorKind::Invalid, "{meta}: {e}");
        assert!(
            e.message().contains(phrase),
            "{meta}: {:?} lacks {phrase:?}",
            e.message()
        );
        assert!(e.hint().is_some(), "{e} has no hint");
    }

    #[test]
    fn c276_c277_c283_valid_portable_specs_pass() {
        // C276, C277, C283
        for meta in [
            json!({"resource_spec": {"@default": {"num_of_gpus": 1, "num_of_cpus": 4, "memory": "8Gi"},
                                     "site-1": {"num_of_gpus": 2, "custom": 3}}}),
            json!({"resource_spec": {"@default": {"num_of_cpus": 2}, "default": {"num_of_cpus": 8}}}),
            json!({"resource_spec": {"site-1": {"process": {"num_of_cpus": 4}, "docker": {"image": "x"}}}}),
        ] {
            assert!(check(meta.clone()).is_ok(), "{meta}");
        }
    }

    #[test]
    fn c284_to_c293_invalid_default_values() {
        // C284–C293
        for (field, bad) in [
            ("num_of_gpus", json!(-1)),
            ("num_of_gpus", json!(true)),
            ("num_of_gpus", json!(null)),
            ("num_of_cpus", json!(0)),
            ("num_of_cpus", json!(1.5)),
            ("num_of_cpus", json!(null)),
            ("memory", json!("8G")),
            ("memory", json!("1.5Gi")),
            ("memory", json!("0Gi")),
            ("memory", json!(null)),
        ] {
            assert_invalid(
                json!({"resource_spec": {"@default": { field: bad }}}),
                &format!("resource_spec['@default'].{field} must be"),
            );
        }
    }

    #[test]
    fn c294_c295_c296_null_site_override() {
        // C294, C295, C296
        for field in PORTABLE_KEYS {
            assert_invalid(
                json!({"resource_spec": {"@default": {}, "site-1": { field: null }}}),
                &format!("resource_spec['site-1'].{field} must be"),
            );
        }
    }

    #[test]
    fn flat_site_values_are_checked_without_default() {
        assert_invalid(
            json!({"resource_spec": {"site-1": {"num_of_gpus": -2}}}),
            "resource_spec['site-1'].num_of_gpus",
        );
        // Nested entries without @default keep their legacy meaning.
        assert!(
            check(json!({"resource_spec": {"site-1": {"process": {"num_of_cpus": 0}, "docker": {}}}}))
                .is_ok()
        );
    }

    #[test]
    fn c297_unknown_default_field() {
        // C297
        assert_invalid(
            json!({"resource_spec": {"@default": {"gpu_memory": "8Gi"}}}),
            "unsupported field",
        );
        assert_invalid(
            json!({"resource_spec": {"@default": {"gpu_memory": "8Gi"}}}),
            "['gpu_memory']",
        );
    }

    #[test]
    fn c298_minimal_default_validates() {
        // C298
        assert!(check(
            json!({"resource_spec": {"@default": {"num_of_gpus": 0, "num_of_cpus": 1, "memory": "1Mi"}}})
        )
        .is_ok());
    }

    #[test]
    fn c299_c300_c302_c305_default_block_conflicts() {
        // C299 gpus/num_of_gpus, C300 gpus/device_requests, C302 cpus/nano_cpus,
        // C305 memory/mem_limit
        for (portable, native, field) in [
            (
                json!({"num_of_gpus": 1}),
                json!({"num_of_gpus": 2}),
                "num_of_gpus",
            ),
            (
                json!({"num_of_gpus": 1}),
                json!({"device_requests": [{"Count": 2}]}),
                "device_requests",
            ),
            (json!({"num_of_cpus": 2}), json!({"nano_cpus": 2e9}), "nano_cpus"),
            (
                json!({"memory": "8Gi"}),
                json!({"mem_limit": 8_589_934_592_i64}),
                "mem_limit",
            ),
        ] {
            let meta = json!({"resource_spec": {"@default": portable},
                              "launcher_spec": {"default": {"docker": native}}});
            assert_invalid(meta.clone(), "conflicts");
            assert_invalid(meta, &format!("['{field}']"));
        }
    }

    #[test]
    fn c301_c303_c304_c306_c307_k8s_and_slurm_default_conflicts() {
        // C301, C303, C304, C306, C307 (key presence only)
        for (portable, mode, native) in [
            (json!({"num_of_gpus": 1}), "k8s", json!({"num_of_gpus": 2})),
            (json!({"num_of_cpus": 2}), "k8s", json!({"cpu": "2"})),
            (json!({"num_of_cpus": 2}), "slurm", json!({"cpus_per_node": 2})),
            (
                json!({"memory": "8Gi"}),
                "k8s",
                json!({"memory": "8Gi", "memory_request": "4Gi"}),
            ),
            (json!({"memory": "8Gi"}), "slurm", json!({"mem_per_node": 8192})),
        ] {
            let meta = json!({"resource_spec": {"@default": portable},
                              "launcher_spec": {"default": { mode: native }}});
            assert_invalid(meta, "conflicts");
        }
        // C308: Slurm has no GPU count field to conflict with.
        let meta = json!({"resource_spec": {"@default": {"num_of_gpus": 8}},
                          "launcher_spec": {"default": {"slurm": {"nodes": 2, "gpus_per_node": 4}}}});
        assert!(check(meta).is_ok());
    }

    #[test]
    fn per_site_conflicts() {
        let meta = json!({"resource_spec": {"site-1": {"memory": "8Gi"}},
                          "launcher_spec": {"site-1": {"docker": {"image": "x", "shm_size": "1g"}},
                                            "default": {"docker": {"num_of_gpus": 1}}}});
        assert!(check(meta).is_ok());
        let meta = json!({"resource_spec": {"site-1": {"num_of_gpus": 1}},
                          "launcher_spec": {"default": {"docker": {"num_of_gpus": 1}}}});
        assert_invalid(meta, "for site 'site-1'");
        let meta = json!({"resource_spec": {"@default": {"num_of_cpus": 2}},
                          "launcher_spec": {"site-9": {"docker": {"nano_cpus": 1}}}});
        assert_invalid(
            meta,
            "portable resource 'num_of_cpus' conflicts with launcher_spec docker field(s)",
        );
    }

    /// The two resource specs of a legacy-GPU case: site-1's entry (a native GPU request and
    /// a legacy process GPU count) alone, and next to an `@default` CPU count.
    fn legacy_gpu_specs(native: Value, process_gpus: i64) -> [Value; 2] {
        let mut site = map(json!({"process": {"num_of_gpus": process_gpus}}));
        site.extend(map(native));
        [
            json!({"resource_spec": {"site-1": site.clone()}}),
            json!({"resource_spec": {"@default": {"num_of_cpus": 4}, "site-1": site}}),
        ]
    }

    #[test]
    fn c309_c320_legacy_gpus_against_native_requests() {
        // C309-C311 (docker, k8s, slurm asking for more GPUs than the legacy process count)
        // and C312-C314 (the same with @default num_of_cpus) are refused; C315-C317 (the
        // counts match) and C318-C320 (with @default: the portable/native GPU conflict is
        // waived) pass.
        let cases = [
            (
                json!({"docker": {"num_of_gpus": 8}}),
                json!({"docker": {"num_of_gpus": 2}}),
            ),
            (
                json!({"k8s": {"num_of_gpus": 8}}),
                json!({"k8s": {"num_of_gpus": 2}}),
            ),
            (
                json!({"slurm": {"nodes": 2, "gpus_per_node": 4}}),
                json!({"slurm": {"nodes": 2, "gpus_per_node": 1}}),
            ),
        ];
        for (mismatch, matching) in cases {
            for meta in legacy_gpu_specs(mismatch, 1) {
                assert_invalid(meta, "legacy process num_of_gpus");
            }
            for meta in legacy_gpu_specs(matching, 2) {
                assert!(check(meta.clone()).is_ok(), "{meta}");
            }
        }
    }

    #[test]
    fn c321_legacy_gpus_with_device_requests() {
        // C321
        assert_invalid(
            json!({"resource_spec": {"site-1": {"process": {"num_of_gpus": 1},
                                                "docker": {"device_requests": [{"Count": 1}]}}}}),
            "device_requests",
        );
    }

    #[test]
    fn c322_legacy_gpu_mismatch_from_launcher_spec() {
        // C322
        assert_invalid(
            json!({"resource_spec": {"site-1": {"process": {"num_of_gpus": 1}}},
                   "launcher_spec": {"site-1": {"docker": {"num_of_gpus": 8}}}}),
            "legacy process num_of_gpus",
        );
    }

    #[test]
    fn c323_launcher_only_gpu_and_flat_sibling_pass() {
        // C323
        assert!(check(json!({"resource_spec": {"site-1": {"docker": {"num_of_gpus": 8}}}})).is_ok());
        assert!(check(
            json!({"resource_spec": {"site-1": {"num_of_gpus": 1, "docker": {"num_of_gpus": 8}}}})
        )
        .is_ok());
    }

    #[test]
    fn docker_blocks_go_through_the_allowlist() {
        // C091–C099 at submission: launcher_spec and legacy resource_spec docker blocks.
        assert_invalid(
            json!({"launcher_spec": {"site-1": {"docker": {"privileged": true}}}}),
            "launcher_spec['site-1']['docker'] contains unsupported job-controlled Docker option",
        );
        assert_invalid(
            json!({"launcher_spec": {"default": {"docker": {"ipc_mode": "host"}}}}),
            "unsupported job-controlled Docker option",
        );
        assert_invalid(
            json!({"resource_spec": {"site-1": {"docker": {"volumes": {}}}}}),
            "resource_spec['site-1']['docker'] contains unsupported job-controlled Docker option",
        );
        assert_invalid(
            json!({"launcher_spec": {"site-1": {"docker": {"shm_size": "8t"}}}}),
            "field 'shm_size'",
        );
        assert!(check(
            json!({"launcher_spec": {"site-1": {"docker": {"image": "a", "shm_size": "8g"},
                                                          "k8s": {"anything": 1}}}})
        )
        .is_ok());
    }

    #[test]
    fn launcher_spec_modes_and_blocks() {
        assert_invalid(
            json!({"launcher_spec": {"site-1": {"dockr": {}}}}),
            "launcher_spec['site-1'] has unsupported launcher mode 'dockr'",
        );
        assert_invalid(
            json!({"launcher_spec": {"site-1": {"docker": null}}}),
            "launcher_spec['site-1']['docker'] must be a mapping, got NoneType",
        );
        assert_invalid(
            json!({"launcher_spec": {"site-1": {"slurm": [1]}}}),
            "launcher_spec['site-1']['slurm'] must be a mapping, got list",
        );
        assert!(check(
            json!({"launcher_spec": {"site-1": {"process": {}, "k8s": {}, "slurm": {}, "docker": {}}}})
        )
        .is_ok());
    }

    #[test]
    fn no_json_shape_panics() {
        let shapes = [
            json!(null),
            json!(true),
            json!(0),
            json!(3),
            json!(-1.5),
            json!(""),
            json!("docker"),
            json!([]),
            json!(["docker", "process"]),
            json!({}),
            json!({"docker": "x"}),
            json!({"docker": [1], "process": 5}),
            json!({"process": {"num_of_gpus": "1"}, "docker": {"num_of_gpus": [1]}}),
            json!({"slurm": {"nodes": "2", "gpus_per_node": true}}),
            json!({"slurm": {"nodes": i64::MAX, "gpus_per_node": i64::MAX}}),
            json!({"@default": [1], "default": "x"}),
        ];
        for a in &shapes {
            for b in &shapes {
                for (ls, rs) in [
                    (a, b),
                    (
                        &json!({"site-1": a, "default": b}),
                        &json!({"site-1": a, "@default": b}),
                    ),
                ] {
                    let meta = map(json!({"launcher_spec": ls, "resource_spec": rs}));
                    let _ = validate_job_meta(&meta);
                    let mut w = Vec::new();
                    let _ = crate::job_spec::resolve_docker_spec(&meta, "site-1", &mut w);
                    let _ = crate::job_spec::docker_spec_for_launch(&meta, "site-1", "/py", &mut w);
                    let _ = crate::resources::portable_resources(&meta, "site-1");
                    let _ = crate::resources::resolved_site_resources(&meta, "site-1");
                }
            }
        }
    }
}
