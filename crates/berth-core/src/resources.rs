//! Portable resources (`resource_spec` `num_of_gpus`, `num_of_cpus`, `memory`, `@default`),
//! spec §4.3.
//!
//! `resource_spec` maps site names to resource blocks. The key `@default` holds values
//! every site inherits (the literal `default` is an ordinary site name here, unlike in
//! `launcher_spec`). A site entry is *flat* (`{"num_of_gpus": 2}`) or legacy *nested* per
//! launcher mode (`{"process": {...}, "docker": {...}}`); nested entries only take part in
//! portable resolution when `@default` is present, and then through their `process` block.

use crate::job_spec::{is_nested_site_entry, key_repr, mapping_error, mapping_or_unset};
use crate::pyval::{self, Map};
use crate::{Error, ErrorKind, Result};
use serde_json::Value;

/// The `resource_spec` key whose block every site inherits.
pub const PORTABLE_DEFAULT_KEY: &str = "@default";

/// The portable keys, in the order they are validated.
pub const PORTABLE_KEYS: [&str; 3] = ["num_of_gpus", "num_of_cpus", "memory"];

/// Nanoseconds of CPU time per CPU, Docker's `NanoCpus` unit.
const NANO_CPUS_PER_CPU: i64 = 1_000_000_000;

/// A site's validated portable resources. `None` means the job did not ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortableResources {
    pub num_of_gpus: Option<i64>,
    pub num_of_cpus: Option<i64>,
    /// `memory` converted to bytes (`8Gi` → 8589934592).
    pub memory_bytes: Option<i64>,
}

impl PortableResources {
    /// True when the job set none of the three.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `num_of_cpus` as Docker `NanoCpus`. [`portable_resources`] only returns counts for
    /// which this fits `i64`.
    pub fn nano_cpus(&self) -> Option<i64> {
        self.num_of_cpus.and_then(|n| n.checked_mul(NANO_CPUS_PER_CPU))
    }
}

/// The portable resources that apply to `site` (spec §4.3), validated.
///
/// With `@default` present: `@default` shallow-merged with the site's process view (its
/// `process` block when nested, the entry itself when flat). Without it: the flat entry,
/// or nothing for a nested one (legacy nested specs are launcher-specific, so a flat
/// `num_of_gpus` beside mode keys is ignored). Keys other than the three portable ones are
/// ignored. The meta is not changed.
///
/// Errors are [`ErrorKind::Invalid`], with the prefix `resource_spec for site '<site>'.<field>`
/// for bad values.
pub fn portable_resources(meta: &Map, site: &str) -> Result<PortableResources> {
    let resolved = portable_fields(meta, site)?;
    let label = format!("resource_spec for site {}", key_repr(site));
    validate_portable_values(&resolved, &label)?;
    let int = |key: &str| resolved.get(key).and_then(pyval::as_int);
    let memory_bytes = match resolved.get("memory").and_then(Value::as_str) {
        Some(m) => Some(memory_to_bytes(m).map_err(|e| e.context(format!("{label}.memory")))?),
        None => None,
    };
    Ok(PortableResources {
        num_of_gpus: int("num_of_gpus"),
        num_of_cpus: int("num_of_cpus"),
        memory_bytes,
    })
}

/// The site's resolved resource block before filtering (upstream's scheduler view):
/// `@default` (falsy → `{}`) merged with the site's process view. Custom keys are kept.
pub fn resolved_site_resources(meta: &Map, site: &str) -> Result<Map> {
    let rs = resource_spec(meta)?;
    let default = mapping_or_unset(
        rs.and_then(|rs| rs.get(PORTABLE_DEFAULT_KEY)),
        &format!("resource_spec[{}]", key_repr(PORTABLE_DEFAULT_KEY)),
        ErrorKind::Invalid,
    )?;
    let mut resolved = default.cloned().unwrap_or_default();
    if let Some(view) = process_view(rs, site)? {
        for (k, v) in view {
            resolved.insert(k.clone(), v.clone());
        }
    }
    Ok(resolved)
}

/// The portable keys (with their raw values) that apply to `site`, unvalidated.
pub(crate) fn portable_fields(meta: &Map, site: &str) -> Result<Map> {
    let rs = resource_spec(meta)?;
    let resolved = if rs.is_some_and(|rs| rs.contains_key(PORTABLE_DEFAULT_KEY)) {
        resolved_site_resources(meta, site)?
    } else {
        match site_entry(rs, site)? {
            Some(entry) if !is_nested_site_entry(entry) => entry.clone(),
            _ => Map::new(),
        }
    };
    Ok(PORTABLE_KEYS
        .iter()
        .filter_map(|k| resolved.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect())
}

/// Check the portable keys present in `block` (a present null is invalid), in the fixed
/// order gpus, cpus, memory. Messages read `<label>.<field> must be ...`.
pub(crate) fn validate_portable_values(block: &Map, label: &str) -> Result<()> {
    if let Some(v) = block.get("num_of_gpus") {
        let ok = pyval::as_int(v).is_some_and(|n| n >= 0);
        if !ok {
            return Err(value_error(
                label,
                "num_of_gpus",
                "must be an integer greater than or equal to 0",
                v,
                "use a whole number such as 0 or 2",
            ));
        }
    }
    if let Some(v) = block.get("num_of_cpus") {
        match pyval::as_int(v) {
            Some(n) if n >= 1 && n.checked_mul(NANO_CPUS_PER_CPU).is_some() => {}
            Some(n) if n >= 1 => {
                return Err(value_error(
                    label,
                    "num_of_cpus",
                    "must be an integer greater than or equal to 1 and small enough for Docker's nano_cpus \
                     (at most 9223372036)",
                    v,
                    "use the number of CPUs the job needs, such as 4",
                ));
            }
            _ => {
                return Err(value_error(
                    label,
                    "num_of_cpus",
                    "must be an integer greater than or equal to 1",
                    v,
                    "use a whole number of CPUs such as 4",
                ));
            }
        }
    }
    if let Some(v) = block.get("memory") {
        let ok = v.as_str().is_some_and(|s| memory_to_bytes(s).is_ok());
        if !ok {
            return Err(value_error(
                label,
                "memory",
                "must be a positive integer followed by Mi, Gi, or Ti (and fit in 64-bit bytes)",
                v,
                "use a size such as \"512Mi\", \"8Gi\" or \"1Ti\" (no decimals, no leading zero)",
            ));
        }
    }
    Ok(())
}

/// A portable memory value in MiB: `512Mi` → 512, `2Gi` → 2048, `1Ti` → 1048576.
///
/// The grammar is a positive integer without leading zeros followed by `Mi`, `Gi` or `Ti`
/// (so `8G`, `1.5Gi` and `0Gi` are refused). Counts that do not fit `i64` bytes are refused.
pub fn memory_to_mib(s: &str) -> Result<i64> {
    let invalid = || {
        Error::invalid(format!(
            "memory must be a positive integer followed by Mi, Gi, or Ti, got {}",
            key_repr(s)
        ))
        .with_hint("use a size such as \"512Mi\", \"8Gi\" or \"1Ti\"")
    };
    let (digits, per_unit) = if let Some(d) = s.strip_suffix("Mi") {
        (d, 1)
    } else if let Some(d) = s.strip_suffix("Gi") {
        (d, 1024)
    } else if let Some(d) = s.strip_suffix("Ti") {
        (d, 1024 * 1024)
    } else {
        return Err(invalid());
    };
    let well_formed = digits.bytes().all(|c| c.is_ascii_digit())
        && digits.bytes().next().is_some_and(|c| (b'1'..=b'9').contains(&c));
    if !well_formed {
        return Err(invalid());
    }
    let too_large = || {
        Error::invalid(format!(
            "memory {} is too large: it must fit in a signed 64-bit byte count",
            key_repr(s)
        ))
        .with_hint("use a realistic size such as \"64Gi\"")
    };
    let count: i64 = digits.parse().map_err(|_| too_large())?;
    let mib = count.checked_mul(per_unit).ok_or_else(too_large)?;
    mib.checked_mul(1024 * 1024).ok_or_else(too_large)?;
    Ok(mib)
}

/// A portable memory value in bytes: `8Gi` → 8589934592, `512Mi` → 536870912.
pub fn memory_to_bytes(s: &str) -> Result<i64> {
    // memory_to_mib already checked that the byte count fits.
    memory_to_mib(s).map(|mib| mib.saturating_mul(1024 * 1024))
}

// ---- helpers ----

/// `meta["resource_spec"]`, `None` when unset or falsy.
pub(crate) fn resource_spec(meta: &Map) -> Result<Option<&Map>> {
    mapping_or_unset(meta.get("resource_spec"), "resource_spec", ErrorKind::Invalid)
}

/// `resource_spec[site]`, `None` when unset or falsy.
pub(crate) fn site_entry<'a>(rs: Option<&'a Map>, site: &str) -> Result<Option<&'a Map>> {
    mapping_or_unset(
        rs.and_then(|rs| rs.get(site)),
        &format!("resource_spec[{}]", key_repr(site)),
        ErrorKind::Invalid,
    )
}

/// The site's process view: the `process` block of a nested entry (which must be a
/// mapping when present), else the flat entry itself.
fn process_view<'a>(rs: Option<&'a Map>, site: &str) -> Result<Option<&'a Map>> {
    let Some(entry) = site_entry(rs, site)? else {
        return Ok(None);
    };
    if !is_nested_site_entry(entry) {
        return Ok(Some(entry));
    }
    match entry.get("process") {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(mapping_error(
            &format!("resource_spec[{}]['process']", key_repr(site)),
            other,
            ErrorKind::Invalid,
        )),
    }
}

fn value_error(label: &str, field: &str, rule: &str, v: &Value, hint: &str) -> Error {
    Error::invalid(format!(
        "{label}.{field} {rule}, got {}: {}",
        pyval::type_name(v),
        pyval::repr(v)
    ))
    .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use berth_testkit::obj as map;

    fn portable(meta: Value, site: &str) -> Result<PortableResources> {
        portable_resources(&map(meta), site)
    }

    fn res(gpus: Option<i64>, cpus: Option<i64>, mem: Option<i64>) -> PortableResources {
        PortableResources {
            num_of_gpus: gpus,
            num_of_cpus: cpus,
            memory_bytes: mem,
        }
    }

    const GIB: i64 = 1 << 30;

    #[test]
    fn c276_default_and_site_override_without_mutation() {
        // C276
        let meta = json!({"resource_spec": {
            "@default": {"num_of_gpus": 1, "num_of_cpus": 4, "memory": "8Gi"},
            "site-1": {"num_of_gpus": 2, "custom": 3}}});
        let before = meta.clone();
        let m = map(meta.clone());
        assert_eq!(
            resolved_site_resources(&m, "site-1").unwrap(),
            map(json!({"num_of_gpus": 2, "num_of_cpus": 4, "memory": "8Gi", "custom": 3}))
        );
        assert_eq!(
            portable_resources(&m, "site-1").unwrap(),
            res(Some(2), Some(4), Some(8 * GIB))
        );
        assert_eq!(Value::Object(m), before);
    }

    #[test]
    fn c277_default_is_a_normal_site_name() {
        // C277
        let meta = json!({"resource_spec": {"@default": {"num_of_cpus": 2}, "default": {"num_of_cpus": 8}}});
        assert_eq!(
            portable(meta.clone(), "default").unwrap(),
            res(None, Some(8), None)
        );
        assert_eq!(
            portable(meta.clone(), "site-1").unwrap(),
            res(None, Some(2), None)
        );
        assert_eq!(portable(meta, "server").unwrap(), res(None, Some(2), None));
    }

    #[test]
    fn c283_legacy_nested_spec_is_not_portable_without_default() {
        // C283
        let meta =
            json!({"resource_spec": {"site-1": {"process": {"num_of_cpus": 4}, "docker": {"image": "x"}}}});
        let m = map(meta);
        assert_eq!(
            resolved_site_resources(&m, "site-1").unwrap(),
            map(json!({"num_of_cpus": 4}))
        );
        assert_eq!(
            portable_resources(&m, "site-1").unwrap(),
            PortableResources::default()
        );
        assert!(portable_resources(&m, "site-1").unwrap().is_empty());
    }

    #[test]
    fn nested_entry_uses_its_process_block_when_default_is_present() {
        let meta = json!({"resource_spec": {"@default": {"num_of_cpus": 2},
            "site-1": {"process": {"num_of_gpus": 1}, "docker": {"image": "x"}, "num_of_cpus": 9}}});
        assert_eq!(portable(meta, "site-1").unwrap(), res(Some(1), Some(2), None));
    }

    #[test]
    fn c284_to_c293_invalid_default_values_are_rejected() {
        // C284 gpus -1, C285 gpus True, C286 gpus None, C287 cpus 0, C288 cpus 1.5,
        // C289 cpus None, C290 memory 8G, C291 1.5Gi, C292 0Gi, C293 None
        for (field, bad, rule) in [
            (
                "num_of_gpus",
                json!(-1),
                "must be an integer greater than or equal to 0",
            ),
            (
                "num_of_gpus",
                json!(true),
                "must be an integer greater than or equal to 0",
            ),
            (
                "num_of_gpus",
                json!(null),
                "must be an integer greater than or equal to 0",
            ),
            (
                "num_of_cpus",
                json!(0),
                "must be an integer greater than or equal to 1",
            ),
            (
                "num_of_cpus",
                json!(1.5),
                "must be an integer greater than or equal to 1",
            ),
            (
                "num_of_cpus",
                json!(null),
                "must be an integer greater than or equal to 1",
            ),
            (
                "memory",
                json!("8G"),
                "must be a positive integer followed by Mi, Gi, or Ti",
            ),
            (
                "memory",
                json!("1.5Gi"),
                "must be a positive integer followed by Mi, Gi, or Ti",
            ),
            (
                "memory",
                json!("0Gi"),
                "must be a positive integer followed by Mi, Gi, or Ti",
            ),
            (
                "memory",
                json!(null),
                "must be a positive integer followed by Mi, Gi, or Ti",
            ),
        ] {
            let meta = json!({"resource_spec": {"@default": { field: bad }}});
            let e = portable(meta, "site-1").expect_err(field);
            assert_eq!(e.kind(), ErrorKind::Invalid);
            let want = format!("resource_spec for site 'site-1'.{field} {rule}");
            assert!(e.message().starts_with(&want), "{:?} vs {want:?}", e.message());
            assert!(e.hint().is_some());
        }
    }

    #[test]
    fn c294_c295_c296_null_site_override_is_rejected() {
        // C294, C295, C296
        for field in PORTABLE_KEYS {
            let meta = json!({"resource_spec": {"@default": {}, "site-1": { field: null }}});
            let e = portable(meta, "site-1").expect_err(field);
            assert_eq!(e.kind(), ErrorKind::Invalid);
            assert!(
                e.message()
                    .contains(&format!("resource_spec for site 'site-1'.{field}")),
                "{e}"
            );
        }
    }

    #[test]
    fn c298_memory_converts_exactly() {
        // C298
        assert_eq!(memory_to_mib("2Gi").unwrap(), 2048);
        assert_eq!(memory_to_mib("1Ti").unwrap(), 1_048_576);
        assert_eq!(memory_to_bytes("3Mi").unwrap(), 3_145_728);
        assert_eq!(memory_to_bytes("8Gi").unwrap(), 8_589_934_592);
        assert_eq!(memory_to_bytes("512Mi").unwrap(), 536_870_912);
        let e = memory_to_mib("8G").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e.message().contains("positive integer"), "{e}");
        let meta =
            json!({"resource_spec": {"@default": {"num_of_gpus": 0, "num_of_cpus": 1, "memory": "1Mi"}}});
        assert_eq!(
            portable(meta, "site-1").unwrap(),
            res(Some(0), Some(1), Some(1 << 20))
        );
    }

    #[test]
    fn memory_grammar_edges() {
        for bad in [
            "", "Gi", "08Gi", "-1Gi", "+1Gi", "1gi", "1GI", "1 Gi", " 1Gi", "1Gi ", "1Pi", "1e3Mi", "１Gi",
        ] {
            let e = memory_to_mib(bad).expect_err(bad);
            assert!(e.message().contains("positive integer"), "{bad:?}: {e}");
        }
        // Overflow is refused, not wrapped.
        for big in [
            "8796093022208Ti",
            "9223372036854775807Mi",
            "99999999999999999999999Mi",
        ] {
            let e = memory_to_bytes(big).expect_err(big);
            assert_eq!(e.kind(), ErrorKind::Invalid);
            assert!(e.message().contains("too large"), "{e}");
        }
        assert_eq!(
            memory_to_bytes("8796093022207Mi").unwrap(),
            8_796_093_022_207 << 20
        );
    }

    #[test]
    fn huge_cpu_counts_do_not_overflow_nano_cpus() {
        let meta = json!({"resource_spec": {"site-1": {"num_of_cpus": 9_223_372_037_i64}}});
        let e = portable(meta, "site-1").unwrap_err();
        assert!(
            e.message()
                .contains("num_of_cpus must be an integer greater than or equal to 1"),
            "{e}"
        );
        let meta = json!({"resource_spec": {"site-1": {"num_of_cpus": 9_223_372_036_i64}}});
        assert_eq!(
            portable(meta, "site-1").unwrap().nano_cpus(),
            Some(9_223_372_036_000_000_000)
        );
    }

    #[test]
    fn c110_flat_gpus_beside_mode_keys_are_ignored() {
        // C110
        let meta =
            json!({"resource_spec": {"site-1": {"docker": {"image": "nvflare:test"}, "num_of_gpus": 2}}});
        assert_eq!(portable(meta, "site-1").unwrap(), PortableResources::default());
    }

    #[test]
    fn c111_flat_resource_spec_gpus_apply() {
        // C111
        let meta = json!({"launcher_spec": {"default": {"docker": {"image": "d/img"}}},
                          "resource_spec": {"site-1": {"num_of_gpus": 2}}});
        assert_eq!(portable(meta, "site-1").unwrap(), res(Some(2), None, None));
    }

    #[test]
    fn c112_portable_cpu_and_memory() {
        // C112
        let meta = json!({"resource_spec": {"@default": {"num_of_cpus": 4, "memory": "8Gi"},
                                            "site-1": {"num_of_cpus": 6}}});
        let p = portable(meta, "site-1").unwrap();
        assert_eq!(p.nano_cpus(), Some(6_000_000_000));
        assert_eq!(p.memory_bytes, Some(8 * GIB));
    }

    #[test]
    fn other_keys_are_ignored_and_absent_spec_is_empty() {
        let meta = json!({"resource_spec": {"site-1": {"mem_per_gpu_in_GiB": 16, "license": "x"}}});
        assert!(portable(meta, "site-1").unwrap().is_empty());
        assert!(portable(json!({}), "site-1").unwrap().is_empty());
        assert!(portable(json!({"resource_spec": null}), "site-1")
            .unwrap()
            .is_empty());
        assert!(
            portable(json!({"resource_spec": {"site-2": {"num_of_gpus": 1}}}), "site-1")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_shapes_are_invalid_not_panics() {
        for (meta, phrase) in [
            (
                json!({"resource_spec": [1, 2]}),
                "resource_spec must be a mapping, got list",
            ),
            (
                json!({"resource_spec": 7}),
                "resource_spec must be a mapping, got int",
            ),
            (
                json!({"resource_spec": {"site-1": "x"}}),
                "resource_spec['site-1'] must be a mapping, got str",
            ),
            (
                json!({"resource_spec": {"@default": [1]}}),
                "resource_spec['@default'] must be a mapping, got list",
            ),
            (
                json!({"resource_spec": {"@default": {}, "site-1": {"process": null, "docker": {}}}}),
                "resource_spec['site-1']['process'] must be a mapping, got NoneType",
            ),
        ] {
            let e = portable(meta.clone(), "site-1").expect_err(phrase);
            assert_eq!(e.kind(), ErrorKind::Invalid, "{meta}");
            assert!(e.message().contains(phrase), "{meta}: {e}");
        }
    }
}
