//! Value forms and the translators of the structured keys, each as docker-py 7.x builds
//! the Engine API value.

use super::errors::Field;
use super::parse_bytes;
use super::shell::shell_split;
use super::spec::{Form, When};
use crate::error::Result;
use crate::pyval::{self, Map};
use serde_json::{json, Value};

pub(super) fn want_str<'v>(f: &Field, v: &'v Value) -> Result<&'v str> {
    v.as_str().ok_or_else(|| f.type_error("a string", v))
}

pub(super) fn want_bool(f: &Field, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| f.type_error("true or false", v))
}

/// An integer that fits i64; booleans and floats are refused.
pub(super) fn want_int(f: &Field, v: &Value) -> Result<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| f.out_of_range(v)),
        _ => Err(f.type_error("an integer", v)),
    }
}

pub(super) fn want_int_in(f: &Field, v: &Value, lo: i64, hi: i64) -> Result<i64> {
    let n = want_int(f, v)?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(f.value_error(format_args!("must be between {lo} and {hi}, got {n}")))
    }
}

pub(super) fn want_list<'v>(f: &Field, v: &'v Value, expected: &str) -> Result<&'v Vec<Value>> {
    v.as_array().ok_or_else(|| f.type_error(expected, v))
}

pub(super) fn want_map<'v>(f: &Field, v: &'v Value, expected: &str) -> Result<&'v Map> {
    v.as_object().ok_or_else(|| f.type_error(expected, v))
}

pub(super) fn str_list(f: &Field, v: &Value) -> Result<Vec<Value>> {
    let items = want_list(f, v, "a list of strings")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| want_str(&f.at(i), item).map(|s| Value::String(s.to_string())))
        .collect()
}

pub(super) fn str_map(f: &Field, v: &Value) -> Result<Map> {
    let map = want_map(f, v, "a mapping of strings to strings")?;
    let mut out = Map::new();
    for (k, item) in map {
        let s = want_str(&f.dot(k), item)?;
        out.insert(k.clone(), Value::String(s.to_string()));
    }
    Ok(out)
}

pub(super) fn plain(f: &Field, v: &Value, form: Form, when: When) -> Result<Option<Value>> {
    let out = match form {
        Form::Str => Value::String(want_str(f, v)?.to_string()),
        Form::Bool => Value::Bool(want_bool(f, v)?),
        Form::Int => Value::from(want_int(f, v)?),
        Form::Bytes => Value::from(parse_bytes(v, &f.key, f.source)?),
        Form::StrList => Value::Array(str_list(f, v)?),
        Form::StrMap => Value::Object(str_map(f, v)?),
        Form::BlkioWeight => Value::from(want_int_in(f, v, 0, 1000)?),
    };
    // The SDK tests the value it was given, before any conversion ("0" is truthy).
    Ok(match when {
        When::Given => Some(out),
        When::Truthy => pyval::is_truthy(v).then_some(out),
    })
}

/// Reads an object of one of the SDK's helper types (`Ulimit`, `DeviceRequest`, ...),
/// whose fields may be spelled snake_case or PascalCase; like the SDK, a present snake_case
/// key wins. Any other key is refused: the SDK would drop it silently.
pub(super) fn sdk_object<'v>(
    f: &Field,
    v: &'v Value,
    type_name: &str,
    names: &[(&str, &str)],
) -> Result<Vec<Option<&'v Value>>> {
    let obj = want_map(f, v, &format!("a mapping ({type_name} fields)"))?;
    for k in obj.keys() {
        if !names.iter().any(|(snake, pascal)| k == snake || k == pascal) {
            let accepted: Vec<&str> = names.iter().map(|(snake, _)| *snake).collect();
            return Err(f
                .dot(k)
                .value_error(format_args!("is not a {type_name} field"))
                .with_hint(format!("accepted: {}", accepted.join(", "))));
        }
    }
    Ok(names
        .iter()
        .map(|(snake, pascal)| match obj.get(*snake) {
            Some(v) => Some(v),
            None => obj.get(*pascal),
        })
        .map(|v| v.filter(|v| !v.is_null()))
        .collect())
}

/// Reads an object the SDK passes to the engine unchanged; the engine matches its field
/// names ignoring case (the last spelling wins), so berth does too, and refuses other keys.
pub(super) fn engine_object<'v>(f: &Field, v: &'v Value, names: &[&str]) -> Result<Vec<Option<&'v Value>>> {
    let obj = want_map(f, v, &format!("a mapping with keys {}", names.join(", ")))?;
    let mut found = vec![None; names.len()];
    for (k, item) in obj {
        let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(k)) else {
            return Err(f
                .dot(k)
                .value_error("is not a field the Docker Engine reads here")
                .with_hint(format!("accepted: {}", names.join(", "))));
        };
        found[i] = Some(item).filter(|v| !v.is_null());
    }
    Ok(found)
}

pub(super) fn entrypoint(f: &Field, v: &Value) -> Result<Value> {
    match v {
        Value::String(s) => match shell_split(s) {
            Ok(words) => Ok(Value::from(words)),
            Err(why) => Err(f.value_error(format_args!(
                "must be a command line a POSIX shell could split, got {}: {why}",
                pyval::repr(v)
            ))),
        },
        Value::Array(_) => Ok(Value::Array(str_list(f, v)?)),
        _ => Err(f.type_error("a string or a list of strings", v)),
    }
}

pub(super) fn healthcheck(f: &Field, v: &Value) -> Result<Value> {
    let names = [
        ("test", "Test"),
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("retries", "Retries"),
        ("start_period", "StartPeriod"),
    ];
    let fields = sdk_object(f, v, "Healthcheck", &names)?;
    let mut out = Map::new();
    for ((snake, pascal), value) in names.iter().zip(fields) {
        let Some(value) = value else { continue };
        let ff = f.dot(snake);
        let emitted = match *snake {
            "test" => match value {
                // A string test runs in the image's shell.
                Value::String(s) => Value::from(vec!["CMD-SHELL".to_string(), s.clone()]),
                Value::Array(_) => Value::Array(str_list(&ff, value)?),
                _ => return Err(ff.type_error("a string or a list of strings", value)),
            },
            "retries" => Value::from(want_int(&ff, value)?),
            _ => {
                let nanos = want_int(&ff, value).map_err(|e| e.with_hint("durations are in nanoseconds"))?;
                Value::from(nanos)
            }
        };
        out.insert(pascal.to_string(), emitted);
    }
    Ok(Value::Object(out))
}

pub(super) fn labels(f: &Field, v: &Value) -> Result<Value> {
    match v {
        Value::Object(_) => Ok(Value::Object(str_map(f, v)?)),
        // A list names labels with empty values.
        Value::Array(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                out.insert(
                    want_str(&f.at(i), item)?.to_string(),
                    Value::String(String::new()),
                );
            }
            Ok(Value::Object(out))
        }
        _ => Err(f.type_error("a mapping of strings to strings or a list of strings", v)),
    }
}

pub(super) fn caps(f: &Field, v: &Value) -> Result<Option<Value>> {
    // The engine also reads a single string as a one-item list.
    let list = match v {
        Value::String(s) => vec![Value::String(s.clone())],
        _ => str_list(f, v)?,
    };
    Ok(pyval::is_truthy(v).then_some(Value::Array(list)))
}

pub(super) fn devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(
        f,
        v,
        "a list of 'host[:container[:permissions]]' strings or mappings",
    )?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let mapping = match item {
            Value::String(s) => {
                let mut parts = s.split(':');
                let host = parts.next().unwrap_or_default();
                let container = parts.next().unwrap_or(host);
                let perms = parts.next().unwrap_or("rwm");
                json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms})
            }
            Value::Object(_) => {
                let names = ["PathOnHost", "PathInContainer", "CgroupPermissions"];
                let fields = engine_object(&fi, item, &names)?;
                let mut m = Map::new();
                for (name, value) in names.iter().zip(fields) {
                    if let Some(value) = value {
                        m.insert(
                            name.to_string(),
                            Value::String(want_str(&fi.dot(name), value)?.to_string()),
                        );
                    }
                }
                Value::Object(m)
            }
            _ => return Err(fi.type_error("a 'host[:container[:permissions]]' string or a mapping", item)),
        };
        out.push(mapping);
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

pub(super) fn device_requests(f: &Field, v: &Value) -> Result<Value> {
    let items = want_list(f, v, "a list of device request mappings")?;
    let names = [
        ("driver", "Driver"),
        ("count", "Count"),
        ("device_ids", "DeviceIDs"),
        ("capabilities", "Capabilities"),
        ("options", "Options"),
    ];
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = sdk_object(&fi, item, "DeviceRequest", &names)?;
        let [driver, count, device_ids, capabilities, options] = fields[..] else {
            return Err(fi.value_error("could not be read"));
        };
        let driver = match driver {
            Some(d) => want_str(&fi.dot("driver"), d)?.to_string(),
            None => String::new(),
        };
        let count = match count {
            Some(c) => want_int(&fi.dot("count"), c)?,
            None => 0,
        };
        let device_ids = match device_ids {
            Some(d) => str_list(&fi.dot("device_ids"), d)?,
            None => Vec::new(),
        };
        let capabilities = match capabilities {
            Some(c) => {
                let fc = fi.dot("capabilities");
                let sets = want_list(&fc, c, "a list of lists of strings")?;
                let mut out = Vec::with_capacity(sets.len());
                for (j, set) in sets.iter().enumerate() {
                    out.push(Value::Array(str_list(&fc.at(j), set)?));
                }
                out
            }
            None => Vec::new(),
        };
        let options = match options {
            Some(o) => str_map(&fi.dot("options"), o)?,
            None => Map::new(),
        };
        out.push(json!({
            "Driver": driver,
            "Count": count,
            "DeviceIDs": device_ids,
            "Capabilities": capabilities,
            "Options": options,
        }));
    }
    Ok(Value::Array(out))
}

pub(super) fn extra_hosts(f: &Field, v: &Value) -> Result<Value> {
    match v {
        // The SDK sorts a mapping by host name.
        Value::Object(map) => {
            let mut pairs = Vec::with_capacity(map.len());
            for (host, ip) in map {
                pairs.push((host.as_str(), want_str(&f.dot(host), ip)?));
            }
            pairs.sort();
            Ok(Value::from(
                pairs
                    .into_iter()
                    .map(|(host, ip)| format!("{host}:{ip}"))
                    .collect::<Vec<_>>(),
            ))
        }
        Value::Array(_) => Ok(Value::Array(str_list(f, v)?)),
        _ => Err(f.type_error(
            "a mapping of host names to addresses or a list of 'host:ip' strings",
            v,
        )),
    }
}

pub(super) fn group_add(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of group names or ids")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let group = match item {
            Value::String(s) => s.clone(),
            Value::Number(n) if !n.is_f64() => n.to_string(),
            _ => return Err(fi.type_error("a group name or an integer id", item)),
        };
        out.push(Value::String(group));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

pub(super) fn links(f: &Field, v: &Value) -> Result<Value> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    let alias = |f: &Field, a: &Value| -> Result<Option<String>> {
        match a {
            Value::Null => Ok(None),
            _ => Ok(Some(want_str(f, a)?.to_string()).filter(|s| !s.is_empty())),
        }
    };
    match v {
        Value::Object(map) => {
            for (name, a) in map {
                pairs.push((name.clone(), alias(&f.dot(name), a)?));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let fi = f.at(i);
                let pair = item.as_array().filter(|p| p.len() == 2);
                let Some([name, a]) = pair.map(Vec::as_slice) else {
                    return Err(fi.type_error("a [container, alias] pair", item));
                };
                pairs.push((want_str(&fi.at(0), name)?.to_string(), alias(&fi.at(1), a)?));
            }
        }
        _ => {
            return Err(f.type_error(
                "a mapping of container names to aliases or a list of [container, alias] pairs",
                v,
            ))
        }
    }
    // The SDK sorts links.
    pairs.sort();
    Ok(Value::from(
        pairs
            .into_iter()
            .map(|(name, a)| match a {
                Some(a) => format!("{name}:{a}"),
                None => name,
            })
            .collect::<Vec<_>>(),
    ))
}

pub(super) fn log_config(f: &Field, v: &Value) -> Result<Value> {
    let fields = sdk_object(f, v, "LogConfig", &[("type", "Type"), ("config", "Config")])?;
    let mut out = Map::new();
    if let Some(Some(t)) = fields.first() {
        out.insert(
            "Type".into(),
            Value::String(want_str(&f.dot("type"), t)?.to_string()),
        );
    }
    let config = match fields.get(1).copied().flatten() {
        Some(c) if pyval::is_truthy(c) => str_map(&f.dot("config"), c)?,
        Some(c) if !c.is_object() => return Err(f.dot("config").type_error("a mapping", c)),
        _ => Map::new(),
    };
    out.insert("Config".into(), Value::Object(config));
    Ok(Value::Object(out))
}

pub(super) fn lxc_conf(f: &Field, v: &Value) -> Result<Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                let value = match item {
                    Value::String(_) | Value::Bool(_) | Value::Number(_) => pyval::python_str(item),
                    _ => None,
                };
                let Some(value) = value else {
                    return Err(f.dot(k).type_error("a scalar", item));
                };
                out.push(json!({"Key": k, "Value": value}));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let fi = f.at(i);
                let fields = engine_object(&fi, item, &["Key", "Value"])?;
                let mut m = Map::new();
                for (name, value) in ["Key", "Value"].iter().zip(fields) {
                    if let Some(value) = value {
                        m.insert(
                            name.to_string(),
                            Value::String(want_str(&fi.dot(name), value)?.to_string()),
                        );
                    }
                }
                out.push(Value::Object(m));
            }
        }
        _ => return Err(f.type_error("a mapping or a list of {Key, Value} mappings", v)),
    }
    Ok(Value::Array(out))
}

pub(super) fn restart_policy(f: &Field, v: &Value) -> Result<Option<Value>> {
    let names = ["Name", "MaximumRetryCount"];
    let fields = engine_object(f, v, &names)?;
    let mut out = Map::new();
    if let Some(Some(name)) = fields.first() {
        out.insert(
            "Name".into(),
            Value::String(want_str(&f.dot("Name"), name)?.to_string()),
        );
    }
    if let Some(Some(count)) = fields.get(1) {
        out.insert(
            "MaximumRetryCount".into(),
            Value::from(want_int(&f.dot("MaximumRetryCount"), count)?),
        );
    }
    Ok(pyval::is_truthy(v).then_some(Value::Object(out)))
}

pub(super) fn sysctls(f: &Field, v: &Value) -> Result<Option<Value>> {
    let map = want_map(f, v, "a mapping of sysctl names to values")?;
    let mut out = Map::new();
    for (k, item) in map {
        // The SDK sends str(value): True, 1, 1.0.
        let rendered = match item {
            Value::String(_) | Value::Bool(_) | Value::Number(_) => pyval::python_str(item),
            _ => None,
        };
        let Some(rendered) = rendered else {
            return Err(f.dot(k).type_error("a string or number", item));
        };
        out.insert(k.clone(), Value::String(rendered));
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

pub(super) fn tmpfs(f: &Field, v: &Value) -> Result<Option<Value>> {
    let out = match v {
        Value::Object(_) => str_map(f, v)?,
        Value::Array(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let mount = want_str(&f.at(i), item)?;
                let (path, options) = mount.split_once(':').unwrap_or((mount, ""));
                out.insert(path.to_string(), Value::String(options.to_string()));
            }
            out
        }
        _ => {
            return Err(f.type_error(
                "a list of 'path[:options]' strings or a mapping of paths to options",
                v,
            ))
        }
    };
    Ok(pyval::is_truthy(v).then_some(Value::Object(out)))
}

pub(super) fn ulimits(f: &Field, v: &Value) -> Result<Value> {
    let items = want_list(f, v, "a list of {name, soft, hard} mappings")?;
    let names = [("name", "Name"), ("soft", "Soft"), ("hard", "Hard")];
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = sdk_object(&fi, item, "Ulimit", &names)?;
        let mut m = Map::new();
        match fields.first().copied().flatten() {
            Some(name) => m.insert(
                "Name".into(),
                Value::String(want_str(&fi.dot("name"), name)?.to_string()),
            ),
            None => {
                return Err(fi
                    .dot("name")
                    .value_error("must be a string (the ulimit's name, e.g. 'nofile')"))
            }
        };
        for ((snake, pascal), value) in names.iter().zip(fields).skip(1) {
            if let Some(value) = value {
                m.insert(pascal.to_string(), Value::from(want_int(&fi.dot(snake), value)?));
            }
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

pub(super) fn host_only(f: &Field, v: &Value) -> Result<Option<Value>> {
    if !pyval::is_truthy(v) {
        return Ok(None);
    }
    match v.as_str() {
        Some("host") => Ok(Some(Value::String("host".into()))),
        _ => Err(f.value_error(format_args!(
            "must be 'host' (the only value the Docker SDK accepts), got {}",
            pyval::repr(v)
        ))),
    }
}

pub(super) fn volumes_from(f: &Field, v: &Value) -> Result<Value> {
    match v {
        // The SDK splits a string on commas.
        Value::String(s) => Ok(Value::from(s.split(',').collect::<Vec<_>>())),
        _ => Ok(Value::Array(str_list(f, v)?)),
    }
}

pub(super) fn weight_devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of {Path, Weight} mappings")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = engine_object(&fi, item, &["Path", "Weight"])?;
        let mut m = Map::new();
        if let Some(Some(path)) = fields.first() {
            m.insert(
                "Path".into(),
                Value::String(want_str(&fi.dot("Path"), path)?.to_string()),
            );
        }
        if let Some(Some(weight)) = fields.get(1) {
            m.insert(
                "Weight".into(),
                Value::from(want_int_in(&fi.dot("Weight"), weight, 0, 1000)?),
            );
        }
        out.push(Value::Object(m));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

pub(super) fn throttle_devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of {Path, Rate} mappings")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = engine_object(&fi, item, &["Path", "Rate"])?;
        let mut m = Map::new();
        if let Some(Some(path)) = fields.first() {
            m.insert(
                "Path".into(),
                Value::String(want_str(&fi.dot("Path"), path)?.to_string()),
            );
        }
        if let Some(Some(rate)) = fields.get(1) {
            m.insert(
                "Rate".into(),
                Value::from(want_int_in(&fi.dot("Rate"), rate, 0, i64::MAX)?),
            );
        }
        out.push(Value::Object(m));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}
