//! Byte-size grammars.
//!
//! [`job_shm_size_bytes`] implements the job-level `shm_size` rule of spec §4.2: an integer
//! from 0 to 2^63−1, or a decimal byte-size string such as `8g`, `512mb` or `8.5G`.
//! Site and study `shm_size` values use the Docker SDK's own grammar instead (see
//! `sdk_kwargs::parse_bytes`); the two are deliberately different.

use serde_json::Value;

/// 2^63 as an `f64` (exactly representable). Anything at or above it does not fit `i64`.
const I64_LIMIT_F64: f64 = 9_223_372_036_854_775_808.0;

/// The byte count a job's `shm_size` stands for, or `None` when the value is not a valid
/// job-level `shm_size`.
///
/// Accepted forms:
/// - an integer (not a bool, not a float such as `1.0`) from 0 to `i64::MAX`;
/// - a string matching `digits [ "." digits ] [ unit ]` with nothing around it, where the
///   unit is `b`/`B` alone, or one of `k m g` in either case optionally followed by
///   `b`/`B`.
///
/// Strings convert as `trunc(f64(amount) × 2^(10·k))`, so they carry float64 rounding:
/// `"9223372036854775807"` rounds up to 2^63 and is rejected, `"1.9999999999999999b"` is 2
/// and `"0.1b"` is 0. Upstream behaves the same way, and jobs written for it rely on
/// the same answers.
pub fn job_shm_size_bytes(v: &Value) -> Option<i64> {
    match v {
        // `as_i64` is `None` for floats and for integers above i64::MAX (e.g. 2^63).
        Value::Number(n) if !n.is_f64() => n.as_i64().filter(|b| *b >= 0),
        Value::String(s) => byte_size_string(s),
        _ => None,
    }
}

/// The grammar and conversion of a job `shm_size` string (see [`job_shm_size_bytes`]).
fn byte_size_string(s: &str) -> Option<i64> {
    // The amount is the leading run of ASCII digits and dots; everything after is the unit.
    // Both halves are ASCII on success, so the split index is a char boundary.
    let split = s
        .bytes()
        .position(|c| !(c.is_ascii_digit() || c == b'.'))
        .unwrap_or(s.len());
    let (amount, unit) = s.split_at(split);
    if !is_decimal_amount(amount) {
        return None;
    }
    let multiplier = unit_multiplier(unit)?;
    // Rust's float parsing is correctly rounded, like Python's `float()`; a very long digit
    // string parses to infinity, which the finiteness check below rejects.
    let amount: f64 = amount.parse().ok()?;
    let bytes = (amount * multiplier).trunc();
    if !bytes.is_finite() || !(0.0..I64_LIMIT_F64).contains(&bytes) {
        return None;
    }
    // `bytes` is integral and within [0, 2^63), so the cast is exact.
    Some(bytes as i64)
}

/// `digits` or `digits.digits`: no sign, no exponent, no bare leading or trailing dot.
fn is_decimal_amount(amount: &str) -> bool {
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    match amount.split_once('.') {
        None => all_digits(amount),
        Some((whole, frac)) => all_digits(whole) && all_digits(frac),
    }
}

/// The multiplier for a unit suffix (`""`, `b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case).
fn unit_multiplier(unit: &str) -> Option<f64> {
    let scale = |c: u8| match c.to_ascii_lowercase() {
        b'k' => Some((1u64 << 10) as f64),
        b'm' => Some((1u64 << 20) as f64),
        b'g' => Some((1u64 << 30) as f64),
        _ => None,
    };
    match unit.as_bytes() {
        [] | [b'b' | b'B'] => Some(1.0),
        [c] | [c, b'b' | b'B'] => scale(*c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn shm(v: Value) -> Option<i64> {
        job_shm_size_bytes(&v)
    }

    #[test]
    fn integers_from_zero_to_i64_max_are_accepted() {
        // C232, C233, C234
        assert_eq!(shm(json!(0)), Some(0));
        assert_eq!(shm(json!(1024)), Some(1024));
        assert_eq!(shm(json!(9_223_372_036_854_775_807_i64)), Some(i64::MAX));
    }

    #[test]
    fn out_of_range_bools_floats_and_containers_are_rejected() {
        // C252, C253, C254, C243, C244
        assert_eq!(shm(json!(-1)), None);
        assert_eq!(shm(json!(9_223_372_036_854_775_808_u64)), None);
        assert_eq!(shm(json!(true)), None);
        assert_eq!(shm(json!(false)), None);
        assert_eq!(shm(json!(1.0)), None);
        assert_eq!(shm(json!(null)), None);
        assert_eq!(shm(json!(["8g"])), None);
        assert_eq!(shm(json!({"unexpected": 1})), None);
        // A number too large even for u64 arrives as a float.
        let huge: Value = serde_json::from_str("1000000000000000000000").unwrap();
        assert_eq!(shm(huge), None);
    }

    #[test]
    fn valid_strings_convert_exactly() {
        // C235, C236, C237, C238, C239 and the spec's list of valid forms
        let gib = 1i64 << 30;
        for (s, want) in [
            ("8g", 8 * gib),
            ("8gb", 8 * gib),
            ("8GB", 8 * gib),
            ("8Gb", 8 * gib),
            ("8gB", 8 * gib),
            ("8B", 8),
            ("8b", 8),
            ("8", 8),
            ("007", 7),
            ("0", 0),
            ("8.5g", 9_126_805_504),
            ("0.5gb", gib / 2),
            ("1k", 1024),
            ("1kb", 1024),
            ("1K", 1024),
            ("1m", 1 << 20),
            ("1MB", 1 << 20),
        ] {
            assert_eq!(shm(json!(s)), Some(want), "{s}");
        }
    }

    #[test]
    fn invalid_strings_are_rejected() {
        // C245, C246, C247, C248, C249, C250, C251 and the spec's list of invalid forms
        let nines = "9".repeat(400);
        for s in [
            "abc",
            "8.",
            ".5g",
            "8bb",
            "8BB",
            "8t",
            "1e3",
            " 8g",
            "8 g",
            "8g\n",
            "9223372036854775808",
            nines.as_str(),
            "-1",
            "+1",
            "",
            "g",
            "b",
            "1..5",
            "1.2.3g",
            "8gbb",
            "8kg",
            "٣",
            "8ｇ",
            "inf",
            "NaN",
        ] {
            assert_eq!(shm(json!(s)), None, "{s:?}");
        }
    }

    #[test]
    fn float64_rounding_quirks_match_upstream() {
        // spec §4.2 (quirk): the string form of i64::MAX rounds to 2^63 and is refused,
        // while the integer is fine.
        assert_eq!(shm(json!("9223372036854775807")), None);
        assert_eq!(shm(json!(i64::MAX)), Some(i64::MAX));
        assert_eq!(shm(json!("1.9999999999999999b")), Some(2));
        assert_eq!(shm(json!("0.1b")), Some(0));
        // 2^53 + 1 is not representable and rounds down to 2^53.
        assert_eq!(shm(json!("9007199254740993")), Some(9_007_199_254_740_992));
        // Units that push a valid amount past the limit are an overflow, not a wrap.
        assert_eq!(shm(json!("8589934592g")), None);
        let near = shm(json!("8589934591.9g")).expect("just below the limit");
        assert!(near > i64::MAX - (1 << 27), "{near}");
    }

    /// A second, independent reading of the rule: strip one `b`, then one k/m/g, and parse
    /// what is left. Only meaningful for strings that already match the grammar.
    fn reference(s: &str) -> Option<i64> {
        let s = s.strip_suffix(['b', 'B']).unwrap_or(s);
        let (amount, mult) = match s.chars().last()?.to_ascii_lowercase() {
            'k' => (&s[..s.len() - 1], 1024.0),
            'm' => (&s[..s.len() - 1], 1024.0 * 1024.0),
            'g' => (&s[..s.len() - 1], 1024.0 * 1024.0 * 1024.0),
            _ => (s, 1.0),
        };
        let v = (amount.parse::<f64>().ok()? * mult).floor();
        if v.is_finite() && v < 2f64.powi(63) {
            Some(v as i64)
        } else {
            None
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in "\\PC*") {
            let _ = job_shm_size_bytes(&Value::String(s));
        }

        #[test]
        fn never_panics_on_near_miss_strings(s in "[0-9.kmgbKMGB \\-+e]{0,30}") {
            let _ = job_shm_size_bytes(&Value::String(s));
        }

        #[test]
        fn agrees_with_reference_on_valid_strings(
            s in "[0-9]{1,25}(\\.[0-9]{1,20})?([bB]|[kmgKMG][bB]?)?"
        ) {
            let got = job_shm_size_bytes(&Value::String(s.clone()));
            prop_assert_eq!(got, reference(&s), "{}", s);
        }

        #[test]
        fn small_whole_amounts_are_exact(n in 0u64..(1 << 33), unit in 0usize..4, b in any::<bool>()) {
            let (suffix, shift) = [("", 0), ("k", 10), ("m", 20), ("g", 30)][unit];
            let s = format!("{n}{suffix}{}", if b { "b" } else { "" });
            prop_assert_eq!(job_shm_size_bytes(&Value::String(s)), Some((n << shift) as i64));
        }

        #[test]
        fn integers_map_to_themselves(n in any::<i64>()) {
            let want = if n >= 0 { Some(n) } else { None };
            prop_assert_eq!(job_shm_size_bytes(&json!(n)), want);
        }
    }
}
