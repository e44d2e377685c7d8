//! Reading and parsing the study YAML files into a small owned tree.
//!
//! berth parses into its own [`Node`] rather than `serde_yaml::Value` so that duplicate
//! keys survive parsing and can be reported with their field path, and so that YAML tags
//! and binary values are refused up front. serde_yaml's own limits stay in force: nesting
//! deeper than 128 levels and alias expansion bombs are parse errors.

use crate::error::{Error, Result};
use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Largest study file berth reads. Real study files are a few kilobytes; the cap keeps a
/// mistaken or hostile file (a log, a device) from being pulled into memory on every launch.
pub const MAX_STUDY_FILE_BYTES: u64 = 1024 * 1024;

/// A parsed YAML value. Mappings keep their entries in file order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Python's type name for the value, for messages (`got int`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "NoneType",
            Node::Bool(_) => "bool",
            Node::Int(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "str",
            Node::Seq(_) => "list",
            Node::Map(_) => "dict",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_map(&self) -> Option<&[(Node, Node)]> {
        match self {
            Node::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A short Python-like `repr` for messages; long values are cut.
    pub(crate) fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        crate::pyval::shorten(&out, 120)
    }

    fn write_repr(&self, out: &mut String) {
        // Stop early on huge values: the message only shows the first 120 characters.
        if out.len() > 200 {
            return;
        }
        match self {
            Node::Null => out.push_str("None"),
            Node::Bool(true) => out.push_str("True"),
            Node::Bool(false) => out.push_str("False"),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Float(f) => out.push_str(&python_float_str(*f)),
            Node::Str(s) => {
                out.push('\'');
                out.push_str(&s.escape_debug().to_string());
                out.push('\'');
            }
            Node::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            Node::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    /// The key as it appears in a field path (`studies.study-a.env.DB_HOST`).
    pub(crate) fn path_segment(&self) -> String {
        match self {
            Node::Str(s) => crate::pyval::shorten(&s.escape_debug().to_string(), 80),
            other => other.repr(),
        }
    }
}

/// Look up a string key in a mapping's entries (first match; duplicates were refused).
pub(crate) fn get<'a>(entries: &'a [(Node, Node)], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The keys of `entries` that are not in `allowed`, as a Python-style list (`['a', 1]`),
/// sorted; `None` when every key is allowed.
pub(crate) fn unknown_keys(entries: &[(Node, Node)], allowed: &[&str]) -> Option<String> {
    let mut unknown: Vec<String> = entries
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|s| allowed.contains(&s)))
        .map(|(k, _)| k.repr())
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort();
    Some(py_list(&unknown))
}

/// `['a', 'b']` from already-rendered items, cut when very long.
pub(crate) fn py_list(rendered: &[String]) -> String {
    crate::pyval::shorten(&format!("[{}]", rendered.join(", ")), 400)
}

/// `['a', 'b']` from plain strings.
pub(crate) fn py_str_list(items: &[&str]) -> String {
    let rendered: Vec<String> = items.iter().map(|s| format!("'{}'", s.escape_debug())).collect();
    py_list(&rendered)
}

/// Python's `str()` of a float (`1.0`, `1e+20`, `1e-05`, `inf`, `nan`).
pub(crate) fn python_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits, e.g. `1.5e-5`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp < 0 {
            let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        } else {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            if digits.len() <= int_len {
                let pad = "0".repeat(int_len - digits.len());
                format!("{sign}{digits}{pad}.0")
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        }
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.unsigned_abs())
    }
}

/// Read a study file as UTF-8 text, refusing anything but a regular file of at most
/// [`MAX_STUDY_FILE_BYTES`]. `what` names the file kind in messages (`study data file`).
///
/// Does not follow up on a missing file: callers check existence first, since a missing
/// file means different things for v1 and v2.
pub(crate) fn read_study_file(path: &Path, what: &str) -> Result<String> {
    let fail =
        |detail: String| Error::invalid(format!("Could not read {what} '{}': {detail}", path.display()));
    // A FIFO or device would block or stream forever; look before opening.
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.is_dir() {
        return Err(fail("it is a directory, not a file".into()));
    }
    if !meta.is_file() {
        return Err(fail("it is not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_STUDY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_STUDY_FILE_BYTES {
        return Err(fail(format!(
            "the file is larger than {MAX_STUDY_FILE_BYTES} bytes; study files are small YAML documents"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "Could not parse {what} '{}': the file is not valid UTF-8 ({e})",
            path.display()
        ))
    })
}

/// Parse YAML text into a [`Node`]. An empty document is [`Node::Null`]. Duplicate keys
/// and non-scalar keys anywhere in the document are errors that name the field path.
pub(crate) fn parse_document(text: &str, path: &Path, what: &str) -> Result<Node> {
    let node: Node = serde_yaml::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "Could not parse {what} '{}': {}",
            path.display(),
            crate::pyval::shorten(&e.to_string(), 300)
        ))
    })?;
    let mut segments = Vec::new();
    check_keys(&node, &mut segments)
        .map_err(|detail| Error::invalid(format!("{what} '{}': {detail}", path.display())))?;
    Ok(node)
}

/// `a.b[2].c`, or `the top level` for the root.
pub(crate) fn join_path(segments: &[String]) -> String {
    if segments.is_empty() {
        return "the top level".into();
    }
    let mut out = String::new();
    for seg in segments {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

fn check_keys(node: &Node, segments: &mut Vec<String>) -> std::result::Result<(), String> {
    match node {
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                segments.push(format!("[{i}]"));
                check_keys(item, segments)?;
                segments.pop();
            }
        }
        Node::Map(entries) => {
            let mut seen = HashSet::with_capacity(entries.len());
            for (k, v) in entries {
                let canonical = match k {
                    Node::Null => "n".to_string(),
                    Node::Bool(b) => format!("b:{b}"),
                    Node::Int(i) => format!("i:{i}"),
                    Node::Float(f) => format!("f:{}", f.to_bits()),
                    Node::Str(s) => format!("s:{s}"),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(format!(
                            "{} has a {} as a mapping key; keys must be scalars",
                            join_path(segments),
                            k.type_name()
                        ))
                    }
                };
                if !seen.insert(canonical) {
                    return Err(format!(
                        "{} has duplicate key {}; each key may appear only once",
                        join_path(segments),
                        k.repr()
                    ));
                }
                segments.push(k.path_segment());
                check_keys(v, segments)?;
                segments.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// The value as a JSON value for container kwargs. Mapping keys that are scalars are
/// rendered the way Python's `json` module renders dict keys; numbers must fit JSON.
pub(crate) fn to_json(node: &Node, path: &str) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => {
            if let Ok(v) = i64::try_from(*i) {
                Value::from(v)
            } else if let Ok(v) = u64::try_from(*i) {
                Value::from(v)
            } else {
                return Err(format!("{path} holds the integer {i}, which is out of range"));
            }
        }
        Node::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(format!(
                    "{path} holds {}, which is not a finite number",
                    python_float_str(*f)
                ))
            }
        },
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_json(item, &format!("{path}[{i}]"))?);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = serde_json::Map::new();
            for (k, v) in entries {
                let key = match k {
                    Node::Str(s) => s.clone(),
                    Node::Null => "null".into(),
                    Node::Bool(b) => b.to_string(),
                    Node::Int(i) => i.to_string(),
                    Node::Float(f) => python_float_str(*f),
                    Node::Seq(_) | Node::Map(_) => {
                        return Err(format!("{path} has a {} as a mapping key", k.type_name()))
                    }
                };
                let child = to_json(v, &format!("{path}.{}", k.path_segment()))?;
                if out.insert(key, child).is_some() {
                    return Err(format!(
                        "{path} has key {} twice once keys are rendered as text",
                        k.repr()
                    ));
                }
            }
            Value::Object(out)
        }
    })
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Int(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> std::result::Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> std::result::Result<Node, E> {
        match i128::try_from(v) {
            Ok(i) => Ok(Node::Int(i)),
            Err(_) => Err(E::custom(format!("integer {v} is too large"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_char<E: de::Error>(self, v: char) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> std::result::Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, _data: A) -> std::result::Result<Node, A::Error> {
        // serde_yaml presents a value with a non-standard tag (`!foo x`) as an enum.
        Err(de::Error::custom(
            "YAML tags other than the standard ones are not supported",
        ))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node> {
        parse_document(text, Path::new("/ws/local/x.yaml"), "study runtime file")
    }

    #[test]
    fn floats_render_like_python_str() {
        for (f, s) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (-0.0, "-0.0"),
            (1000.0, "1000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (1.2345678901234567e17, "1.2345678901234566e+17"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python_float_str(f), s, "{f}");
        }
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap(), Node::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Node::Null);
    }

    #[test]
    fn duplicate_keys_name_the_field_path() {
        let e = parse("studies:\n  a:\n    env:\n      X: 1\n      X: 2\n").unwrap_err();
        assert!(e.message().contains("studies.a.env has duplicate key 'X'"), "{e}");
        assert!(e.message().contains("/ws/local/x.yaml"), "{e}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message().contains("the top level has duplicate key 'a'"), "{e}");
        let e = parse("l:\n  - {k: 1, k: 2}\n").unwrap_err();
        assert!(e.message().contains("l[0] has duplicate key 'k'"), "{e}");
    }

    #[test]
    fn non_scalar_keys_are_refused() {
        let e = parse("? [a]\n: b\n").unwrap_err();
        assert!(e.message().contains("keys must be scalars"), "{e}");
    }

    #[test]
    fn tags_binary_and_multiple_documents_are_parse_errors() {
        for text in [
            "!foo x",
            "a: !custom {b: 1}",
            "---\na: 1\n---\nb: 2\n",
            "a: [",
            "a: 1\n b: 2",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.message().starts_with("Could not parse study runtime file"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn deep_nesting_and_alias_loops_are_parse_errors_not_crashes() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).unwrap_err().message().contains("recursion limit"));
        let deep_maps = "a:\n".to_string()
            + &(1..300)
                .map(|i| format!("{}a:\n", "  ".repeat(i)))
                .collect::<String>();
        assert!(parse(&deep_maps).is_err());
        assert!(parse("a: &a [*a]").is_err());
        // "billion laughs": aliases that expand exponentially
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = format!("*a{}", i - 1);
            laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", ")));
        }
        assert!(parse(&laughs).unwrap_err().message().contains("Could not parse"));
    }

    #[test]
    fn big_numbers_and_bad_floats_do_not_reach_json() {
        let node = parse("a: 170141183460469231731687303715884105727").unwrap();
        let Node::Map(entries) = &node else { panic!("map") };
        assert!(to_json(&entries[0].1, "x").unwrap_err().contains("out of range"));
        assert!(to_json(&Node::Float(f64::NAN), "x")
            .unwrap_err()
            .contains("finite"));
        assert!(parse("a: 999999999999999999999999999999999999999999").is_ok());
    }

    #[test]
    fn json_keys_render_like_python_json() {
        let node = parse("{1: a, true: b, null: c, 1.5: d, s: e}").unwrap();
        let json = to_json(&node, "v").unwrap();
        assert_eq!(
            json,
            serde_json::json!({"1": "a", "true": "b", "null": "c", "1.5": "d", "s": "e"})
        );
        let clash = parse("{1: a, '1': b}").unwrap();
        assert!(to_json(&clash, "v").is_err());
    }

    #[test]
    fn reading_refuses_directories_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_study_file(dir.path(), "study data file").unwrap_err();
        assert!(e.message().starts_with("Could not read study data file"), "{e}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_STUDY_FILE_BYTES + 1) as usize]).unwrap();
        let e = read_study_file(&big, "study runtime file").unwrap_err();
        assert!(e.message().contains("larger than"), "{e}");
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, vec![b'#'; MAX_STUDY_FILE_BYTES as usize]).unwrap();
        assert!(read_study_file(&ok, "study runtime file").is_ok());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, [0xff, 0xfe, b'a']).unwrap();
        let e = read_study_file(&bad, "study runtime file").unwrap_err();
        assert!(e.message().contains("UTF-8"), "{e}");
    }
}
