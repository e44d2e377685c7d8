//! The container create body, checked against bollard's model before it is sent: a key the
//! model does not know (a misspelled security setting in `HostConfig`, say) is one the engine
//! would silently ignore. The check runs once per body shape ([`CheckedShapes`]), not per
//! create.

use crate::runtime::{EngineError, EngineResult};
use bollard::models::ContainerCreateBody;
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

/// The shapes of create bodies that passed [`create_body_model`], so a site's launches (whose
/// bodies differ in values only) pay for the check once.
///
/// Values are not re-checked per job: the engine itself refuses an ill-typed value (400),
/// while an unknown key is what it ignores silently, and a new or misspelled key is a new
/// shape.
#[derive(Debug, Default)]
pub(super) struct CheckedShapes {
    passed: Mutex<HashSet<u64>>,
}

impl CheckedShapes {
    /// At most this many shapes are kept; the set is cleared when full.
    const CAPACITY: usize = 1024;

    /// Refuses `body` as [`create_body_model`] does, unless a body of the same shape passed.
    pub(super) fn check(&self, body: &Value) -> EngineResult<()> {
        let shape = shape_hash(body);
        if self.passed().contains(&shape) {
            return Ok(());
        }
        create_body_model(body)?;
        let mut passed = self.passed();
        if passed.len() >= Self::CAPACITY {
            passed.clear();
        }
        passed.insert(shape);
        Ok(())
    }

    fn passed(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // The set holds no invariant a panicking holder could break.
        self.passed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A hash of `body`'s shape: every scalar replaced by one placeholder, object keys kept in
/// order, an array reduced to the distinct shapes of its items.
fn shape_hash(body: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    hash_shape(body, &mut hasher);
    hasher.finish()
}

fn hash_shape(v: &Value, h: &mut DefaultHasher) {
    match v {
        // Apart from other scalars: the check reads a null as an absent key, so a key that is
        // null in one body and set in another is checked again.
        Value::Null => h.write_u8(0),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => h.write_u8(1),
        Value::Array(items) => {
            let mut shapes: Vec<u64> = items.iter().map(shape_hash).collect();
            shapes.sort_unstable();
            shapes.dedup();
            h.write_u8(2);
            shapes.hash(h);
        }
        Value::Object(map) => {
            h.write_u8(3);
            h.write_usize(map.len());
            for (key, value) in map {
                key.hash(h);
                hash_shape(value, h);
            }
        }
    }
}

/// Converts the create body into bollard's model and refuses it when the model would drop
/// or change anything: the JSON berth planned is the JSON the engine gets.
pub fn create_body_model(body: &Value) -> EngineResult<ContainerCreateBody> {
    if !body.is_object() {
        return Err(body_error(
            "the container create body must be a JSON object".to_string(),
        ));
    }
    let model: ContainerCreateBody = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        body_error(format!("create body field `{path}`: {}", e.inner()))
    })?;
    let back = serde_json::to_value(&model)
        .map_err(|e| body_error(format!("create body cannot be encoded: {e}")))?;
    if let Some(lost) = first_difference(body, &back, "") {
        return Err(body_error(lost));
    }
    Ok(model)
}

fn body_error(message: String) -> EngineError {
    EngineError::Api { status: 0, message }
}

/// The first place where `sent` differs from what `planned` asked for, as a message naming
/// the field. A `null` in the plan is the same as an absent key.
fn first_difference(planned: &Value, sent: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (planned, sent) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                if value.is_null() {
                    continue;
                }
                match got.get(key) {
                    None => {
                        return Some(format!(
                            "create body field `{}` is not known to the engine client and would be dropped",
                            join(key)
                        ))
                    }
                    Some(got_value) => {
                        if let Some(diff) = first_difference(value, got_value, &join(key)) {
                            return Some(diff);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return Some(format!(
                    "create body field `{path}` has {} items but {} would be sent",
                    want.len(),
                    got.len()
                ));
            }
            want.iter()
                .zip(got)
                .enumerate()
                .find_map(|(i, (w, g))| first_difference(w, g, &format!("{path}[{i}]")))
        }
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => None,
        (want, got) if want == got => None,
        (want, got) => Some(format!(
            "create body field `{path}` would be sent as {got} instead of {want}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn launcher_like_body() -> Value {
        json!({
            "Image": "img:1",
            "Cmd": ["/usr/local/bin/python", "-u", "-m", "m"],
            "Env": ["A=1"],
            "WorkingDir": "/var/tmp/nvflare/workspace/j",
            "User": "1000:1000",
            "Labels": {"org.berth.job": "j"},
            "HostConfig": {
                "AutoRemove": false,
                "NetworkMode": "net",
                "Mounts": [
                    {"Target": "/var/tmp/nvflare/workspace", "Source": null, "Type": "tmpfs",
                     "ReadOnly": false, "TmpfsOptions": {"Mode": 1023}},
                    {"Target": "/s", "Source": "/h/s", "Type": "bind", "ReadOnly": true}
                ],
                "Tmpfs": {"/var/tmp/nvflare/workspace": "uid=1000,gid=1000,mode=1777"},
                "ShmSize": 8589934592_i64,
                "DeviceRequests": [{"Driver": "", "Count": 1, "DeviceIDs": [],
                    "Capabilities": [["gpu"]], "Options": {}}],
                "NanoCpus": 2000000000_i64,
                "Memory": 1073741824_i64,
                "IpcMode": "host"
            },
            "NetworkingConfig": {"EndpointsConfig": {"net": {}}}
        })
    }

    #[test]
    fn a_launcher_body_passes_unchanged() {
        let model = create_body_model(&launcher_like_body()).unwrap();
        assert_eq!(model.image.as_deref(), Some("img:1"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let mut body = launcher_like_body();
        body["HostConfig"]["NoSuchThing"] = json!(1);
        let err = create_body_model(&body).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message } if message.contains("HostConfig.NoSuchThing")),
            "{err}"
        );
    }

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let mut body = launcher_like_body();
        body["HostConfig"]["Mounts"][0]["TmpfsOptions"]["Mode"] = json!("1777");
        let err = create_body_model(&body).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message }
                if message.contains("HostConfig.Mounts[0].TmpfsOptions.Mode")),
            "{err}"
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert!(matches!(
            create_body_model(&json!([1])),
            Err(EngineError::Api { status: 0, .. })
        ));
    }

    #[test]
    fn a_shape_is_checked_once_and_a_new_key_is_a_new_shape() {
        let shapes = CheckedShapes::default();
        shapes.check(&launcher_like_body()).unwrap();
        assert_eq!(shapes.passed().len(), 1);

        // Other values, one more item of a known kind: the same shape, not checked again.
        let mut other_job = launcher_like_body();
        other_job["Image"] = json!("img:2");
        other_job["Env"] = json!(["A=2", "B=3"]);
        other_job["HostConfig"]["Mounts"][1]["Source"] = json!("/h/t");
        let bind = other_job["HostConfig"]["Mounts"][1].clone();
        other_job["HostConfig"]["Mounts"]
            .as_array_mut()
            .unwrap()
            .push(bind);
        assert_eq!(shape_hash(&other_job), shape_hash(&launcher_like_body()));
        shapes.check(&other_job).unwrap();
        assert_eq!(shapes.passed().len(), 1);

        // A misspelled key, top-level or in an array item, and a key set where it was null:
        // each a new shape, checked and refused, nothing kept.
        let mut misspelled = launcher_like_body();
        misspelled["HostConfig"]["Privilegd"] = json!(false);
        let mut in_item = launcher_like_body();
        in_item["HostConfig"]["Mounts"][1]["ReadOnlyy"] = json!(true);
        let mut null_key = launcher_like_body();
        null_key["HostConfig"]["Bogus"] = json!(null);
        shapes.check(&null_key).unwrap();
        let mut set_key = launcher_like_body();
        set_key["HostConfig"]["Bogus"] = json!(true);
        for (body, field) in [
            (misspelled, "HostConfig.Privilegd"),
            (in_item, "HostConfig.Mounts[1].ReadOnlyy"),
            (set_key, "HostConfig.Bogus"),
        ] {
            let err = shapes.check(&body).unwrap_err();
            assert!(
                matches!(&err, EngineError::Api { status: 0, message } if message.contains(field)),
                "{err}"
            );
        }
        assert_eq!(shapes.passed().len(), 2);
    }

    #[test]
    fn the_shapes_kept_are_bounded() {
        let shapes = CheckedShapes::default();
        for i in 0..=CheckedShapes::CAPACITY {
            let mut body = launcher_like_body();
            body["Labels"][format!("l{i}")] = json!("v");
            shapes.check(&body).unwrap();
        }
        assert_eq!(shapes.passed().len(), 1);
    }
}
