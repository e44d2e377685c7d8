//! Strict JSON for files that come from outside the process (a job's `meta.json`, the job
//! process args, the site's launcher config).
//!
//! serde_json keeps the last value of a repeated key. Python's `json` does the same, but other
//! readers (a submission validator, an audit tool, a person reading the file) may take the
//! first one, so a file with a repeated key can mean two different things to two readers.
//! berth refuses such a file instead of guessing, at any depth, and names the key and where it
//! sits. Nesting is capped at [`MAX_DEPTH`] so a hostile file cannot exhaust the stack of any
//! later recursive walk over the value.

use crate::error::{Error, Result};
use crate::pyval::{self, Map};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The deepest nesting of arrays and objects accepted (the top-level value is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Parse `text` as one JSON value, refusing repeated object keys and nesting deeper than
/// [`MAX_DEPTH`]. `origin` names the input in errors (`job meta 'meta.json'`).
///
/// Errors are [`crate::ErrorKind::Invalid`]. Does not read files.
pub fn parse_value_strict(text: &str, origin: &str) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictSeed { depth: 1, path: "" }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| Error::invalid(format!("could not parse {origin}: {e}")))?;
    Ok(value)
}

/// [`parse_value_strict`], then require a JSON object; anything else is an error naming
/// `origin` and the type found (`list`, `str`, ...), as Python would name it.
pub fn parse_object_strict(text: &str, origin: &str) -> Result<Map> {
    match parse_value_strict(text, origin)? {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(format!(
            "{origin} must be a JSON object, got {}",
            pyval::type_name(&other)
        ))),
    }
}

/// Where a value sits, for messages: `launcher_spec.site-1.docker`, `components[0].args`.
fn child_path(parent: &str, key: &str) -> String {
    let key = pyval::shorten(&key.escape_debug().to_string(), 80);
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

struct StrictSeed<'p> {
    depth: usize,
    path: &'p str,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor {
            depth: self.depth,
            path: self.path,
        })
    }
}

struct StrictVisitor<'p> {
    depth: usize,
    path: &'p str,
}

impl StrictVisitor<'_> {
    fn check_depth<E: de::Error>(&self) -> std::result::Result<(), E> {
        if self.depth > MAX_DEPTH {
            let at = if self.path.is_empty() {
                "the top level"
            } else {
                self.path
            };
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels at {at}"
            )));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        // JSON text cannot spell a non-finite number, so this never yields null.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        self.check_depth()?;
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            let seed = StrictSeed {
                depth: self.depth + 1,
                path: &path,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> std::result::Result<Value, A::Error> {
        self.check_depth()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = child_path(self.path, &key);
            if map.contains_key(&key) {
                let at = if self.path.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in {}", self.path)
                };
                return Err(de::Error::custom(format_args!(
                    "duplicate key '{}' {at}; each key may appear only once, because readers \
                     disagree about which value wins",
                    pyval::shorten(&key.escape_debug().to_string(), 80)
                )));
            }
            let value = access.next_value_seed(StrictSeed {
                depth: self.depth + 1,
                path: &path,
            })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn accepts_ordinary_json_and_keeps_key_order() {
        let m =
            parse_object_strict(r#"{"b": 1, "a": [1, 2.5, "x", null, true, {"c": {}}]}"#, "meta").unwrap();
        assert_eq!(
            Value::Object(m.clone()),
            json!({"b": 1, "a": [1, 2.5, "x", null, true, {"c": {}}]})
        );
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(
            parse_value_strict("18446744073709551615", "x").unwrap(),
            json!(u64::MAX)
        );
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth_naming_the_path() {
        for (text, phrase) in [
            (
                r#"{"job_id": "a", "job_id": "b"}"#,
                "duplicate key 'job_id' at the top level",
            ),
            (
                r#"{"launcher_spec": {"site-1": {"docker": {"image": "a", "image": "b"}}}}"#,
                "duplicate key 'image' in launcher_spec.site-1.docker",
            ),
            (
                r#"{"a": [{"x": 1}, {"x": 1, "x": 1}]}"#,
                "duplicate key 'x' in a[1]",
            ),
            // The same key in sibling objects is fine; only repeats within one object count.
            (r#"{"k": {"k": {"k": 1, "k": 2}}}"#, "duplicate key 'k' in k.k"),
        ] {
            let e = parse_object_strict(text, "job meta 'meta.json'").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid);
            assert!(e.message().contains(phrase), "{text}: {e}");
            assert!(e.message().contains("job meta 'meta.json'"), "{e}");
        }
        assert!(parse_object_strict(r#"{"a": {"x": 1}, "b": {"x": 2}}"#, "m").is_ok());
    }

    #[test]
    fn escaped_spellings_of_one_key_are_the_same_key() {
        let e = parse_object_strict(r#"{"image": 1, "im\u0061ge": 2}"#, "m").unwrap_err();
        assert!(e.message().contains("duplicate key 'image'"), "{e}");
    }

    #[test]
    fn caps_nesting() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_value_strict(&ok, "x").is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = parse_value_strict(&deep, "x").unwrap_err();
        assert!(e.message().contains("nesting deeper than 64"), "{e}");
        let very_deep = "{\"a\":".repeat(100_000);
        assert!(parse_value_strict(&very_deep, "x").is_err());
    }

    #[test]
    fn non_objects_and_garbage_are_named() {
        let e = parse_object_strict("[1]", "job process args 'args.json'").unwrap_err();
        assert!(e.message().contains("must be a JSON object, got list"), "{e}");
        for bad in ["", "{", "{\"a\":1} x", "{'a': 1}", "{\"a\": NaN}", "\u{feff}{}"] {
            let e = parse_value_strict(bad, "cfg").unwrap_err();
            assert!(e.message().starts_with("could not parse cfg"), "{bad:?}: {e}");
        }
    }
}
