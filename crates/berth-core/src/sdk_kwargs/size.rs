//! docker-py's byte sizes: `8g`, `512m`, `"1.5k"`, plain integers.

use super::errors::Field;
use crate::error::{Error, Result};
use crate::pyval;
use serde_json::Value;

/// docker-py's `parse_bytes`: an integer is taken as is; a string is a decimal number
/// (Python `float` syntax) with an optional unit `b`, `k`, `m` or `g` (any case, powers of
/// 1024, an extra trailing `b` allowed: `"8gb"`), truncated toward zero; `""` is 0.
/// `field` and `source` name the value in errors. Floats, booleans and results outside
/// i64 are refused (the SDK would send them and the engine would reject them).
pub fn parse_bytes(v: &Value, field: &str, source: &str) -> Result<i64> {
    let f = Field::new(source, field);
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| f.out_of_range(v)),
        Value::String(s) => size_from_str(s).map_err(|why| {
            let detail = match why {
                SizeError::Number => "its number part is not a decimal number",
                SizeError::Unit => "the unit must be one of b, k, m, g (an extra trailing b is allowed)",
                SizeError::Range => "the size does not fit a signed 64-bit integer",
            };
            Error::invalid(format!(
                "{} key '{}' must be {SIZE_FORM}, got {}: {detail}",
                f.source,
                f.key,
                pyval::repr(v)
            ))
        }),
        _ => Err(f.type_error(SIZE_FORM, v)),
    }
}

const SIZE_FORM: &str = "a number of bytes or a size string such as '512m' or '8g'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeError {
    Number,
    Unit,
    Range,
}

fn size_from_str(s: &str) -> Result<i64, SizeError> {
    let mut chars: Vec<char> = s.chars().collect();
    let Some(&last) = chars.last() else {
        return Ok(0);
    };
    // "8gb" / "8GB": a b after another letter is dropped.
    if chars.len() >= 2 && chars[chars.len() - 2].is_alphabetic() && matches!(last, 'b' | 'B') {
        chars.pop();
    }
    let Some(&suffix) = chars.last() else {
        return Err(SizeError::Number);
    };
    let (number, unit): (String, f64) = if suffix.is_ascii_digit() {
        (chars.iter().collect(), 1.0)
    } else {
        let unit = match suffix.to_lowercase().collect::<String>().as_str() {
            "b" => 1.0,
            "k" => 1024.0,
            "m" => 1024.0 * 1024.0,
            "g" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(SizeError::Unit),
        };
        (chars[..chars.len() - 1].iter().collect(), unit)
    };
    let x = python_float(&number).ok_or(SizeError::Number)?;
    let bytes = (x * unit).trunc();
    if bytes.is_nan() {
        return Err(SizeError::Number);
    }
    // -2^63 ..= 2^63 - 1; the upper bound is exclusive as a float.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&bytes) {
        return Err(SizeError::Range);
    }
    Ok(bytes as i64)
}

/// Python's `float(str)`: surrounding whitespace allowed, `_` only between digits.
fn python_float(s: &str) -> Option<f64> {
    let trimmed: Vec<char> = s.trim().chars().collect();
    for (i, &c) in trimmed.iter().enumerate() {
        if c == '_' {
            let before = i > 0 && trimmed[i - 1].is_ascii_digit();
            let after = trimmed.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if !(before && after) {
                return None;
            }
        }
    }
    let cleaned: String = trimmed.into_iter().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}
