//! The container create body, checked against bollard's model before it is sent.

use crate::runtime::{EngineError, EngineResult};
use bollard::models::ContainerCreateBody;

/// Converts the create body into bollard's model and refuses it when the model would drop
/// or change anything: the JSON berth planned is the JSON the engine gets.
pub fn create_body_model(body: &serde_json::Value) -> EngineResult<ContainerCreateBody> {
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
fn first_difference(planned: &serde_json::Value, sent: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
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

    fn launcher_like_body() -> serde_json::Value {
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
}
