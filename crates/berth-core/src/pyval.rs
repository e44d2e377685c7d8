//! Python-flavoured views of JSON values, so validation messages and truthiness match
//! what an NVFlare user sees from upstream (`got int`, `'abc'`, falsy `0`, ...).

use serde_json::Value;

/// The ordered JSON object berth passes around (insertion order is kept: upstream reports
/// the first failing field in the order the submitter wrote them).
pub type Map = serde_json::Map<String, Value>;

/// The strings of a JSON list, in order; other items, and a value that is not a list, give
/// none. How the engine's string-list fields (`Env`, `CapAdd`, `SecurityOpt`, ...) are read.
pub fn string_items(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Python's truthiness of the value upstream would have deserialised.
pub fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `Some(v)` only when the value exists and is truthy.
pub fn truthy(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| is_truthy(v))
}

/// Python's type name for the value (`int`, `float`, `bool`, `str`, `list`, `dict`,
/// `NoneType`).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A short Python-like `repr` of the value for error messages. Long values are cut so a
/// hostile input cannot flood a log line.
pub fn repr(v: &Value) -> String {
    let full = match v {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::String(s) => format!("'{}'", s.escape_debug()),
        other => other.to_string(),
    };
    shorten(&full, 120)
}

/// `s` cut to at most `max` characters, with `...` marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}...")
    }
}

/// An integer that is not a bool and fits `i64` (the Engine API's integer width).
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64(),
        _ => None,
    }
}

/// A mapping, or `None` for any other type.
pub fn as_map(v: &Value) -> Option<&Map> {
    v.as_object()
}

/// A string with non-whitespace content.
pub fn non_blank_str(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// Python's `str()` of a scalar as the Docker SDK renders env values: `True`/`False` for
/// booleans, the digits for numbers, the text for strings. `None` for null.
pub fn python_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(python_number(n)),
        other => Some(other.to_string()),
    }
}

fn python_number(n: &serde_json::Number) -> String {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
            return format!("{f:.1}");
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_matches_python() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!is_truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!(-1),
            json!(0.5),
            json!("x"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(is_truthy(&v), "{v}");
        }
    }

    #[test]
    fn type_names_match_python() {
        assert_eq!(type_name(&json!(123)), "int");
        assert_eq!(type_name(&json!(1.5)), "float");
        assert_eq!(type_name(&json!(0.0)), "float");
        assert_eq!(type_name(&json!(true)), "bool");
        assert_eq!(type_name(&json!(["a"])), "list");
        assert_eq!(type_name(&json!({})), "dict");
        assert_eq!(type_name(&json!(null)), "NoneType");
    }

    #[test]
    fn python_str_renders_like_the_sdk() {
        assert_eq!(python_str(&json!(true)).as_deref(), Some("True"));
        assert_eq!(python_str(&json!(5432)).as_deref(), Some("5432"));
        assert_eq!(python_str(&json!(1.0)).as_deref(), Some("1.0"));
        assert_eq!(python_str(&json!(null)), None);
    }

    #[test]
    fn ints_exclude_bools_floats_and_overflow() {
        assert_eq!(as_int(&json!(7)), Some(7));
        assert_eq!(as_int(&json!(true)), None);
        assert_eq!(as_int(&json!(1.0)), None);
        assert_eq!(as_int(&json!(u64::MAX)), None);
    }

    #[test]
    fn repr_is_short() {
        let long = Value::String("x".repeat(1000));
        assert!(repr(&long).len() < 140);
    }
}
