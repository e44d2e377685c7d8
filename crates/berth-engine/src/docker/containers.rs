//! Containers: create, start, inspect, stop, remove, list, wait, and how the engine's
//! inspect and list answers read.

use super::create_body::CheckedShapes;
use super::images::familiar_image_name;
use super::{json_str, label_filter_values, DockerRuntime};
use crate::dialect::adapt_create_body;
use crate::raw;
use crate::runtime::{ContainerState, ContainerSummary, EngineError, EngineInfo, EngineResult, LabelFilter};
use bollard::errors::Error as BollardError;
use bytes::Bytes;
use futures::stream::StreamExt;
use hyper::Method;
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

pub(super) async fn create(
    rt: &DockerRuntime,
    name: &str,
    body: &serde_json::Value,
    platform: Option<&str>,
) -> EngineResult<String> {
    let (_, info) = rt.negotiated().await?;
    let sent = create_request_body(info, &rt.inner.create_shapes, body)?;
    let mut path = format!("/containers/create?name={}", raw::query_value(name));
    if let Some(p) = platform {
        path.push_str("&platform=");
        path.push_str(&raw::query_value(p));
    }
    let answer = rt.send(Method::POST, &path, sent).await?;
    let answer: CreateAnswer = raw::decode(&answer, &Method::POST, &path)?;
    for warning in answer.warnings.iter().flatten() {
        tracing::warn!(container = name, "engine warning on create: {warning}");
    }
    Ok(answer.id)
}

/// The create body as engine `info` gets it: the plan's JSON object as planned, adapted to
/// the engine's dialect ([`adapt_create_body`]), nothing dropped or renamed on the way.
/// Refused before sending when bollard's model does not know one of its keys, checked once
/// per body shape (`shapes`).
fn create_request_body(
    info: &EngineInfo,
    shapes: &CheckedShapes,
    body: &serde_json::Value,
) -> EngineResult<Bytes> {
    let refuse = |message: String| EngineError::Api { status: 0, message };
    if !body.is_object() {
        return Err(refuse(
            "the container create body must be a JSON object".to_string(),
        ));
    }
    let adapted = adapt_create_body(info, body)?;
    shapes.check(&adapted)?;
    serde_json::to_vec(&adapted)
        .map(Bytes::from)
        .map_err(|e| refuse(format!("the container create body cannot be encoded: {e}")))
}

/// The fields of the create answer berth reads.
#[derive(Deserialize)]
struct CreateAnswer {
    #[serde(rename = "Id")]
    id: String,
    /// `null` or absent on some engines.
    #[serde(rename = "Warnings", default)]
    warnings: Option<Vec<String>>,
}

pub(super) async fn start(rt: &DockerRuntime, id: &str) -> EngineResult<()> {
    let path = format!("/containers/{}/start", raw::path_segment(id));
    rt.send(Method::POST, &path, Bytes::new()).await.map(drop)
}

pub(super) async fn inspect(rt: &DockerRuntime, id: &str) -> EngineResult<ContainerState> {
    let answer: InspectAnswer = rt
        .get(&format!("/containers/{}/json", raw::path_segment(id)))
        .await?;
    Ok(answer.into_state())
}

pub(super) async fn stop(rt: &DockerRuntime, id: &str, grace_secs: u32) -> EngineResult<()> {
    // One request: the engine's 304 (not running) reads as success, which is what a caller
    // that wants the container stopped needs.
    let t = i32::try_from(grace_secs).unwrap_or(i32::MAX);
    let path = format!("/containers/{}/stop?t={t}", raw::path_segment(id));
    rt.send(Method::POST, &path, Bytes::new()).await.map(drop)
}

/// One `kill` with SIGKILL where that is the engine's quickest stop with no grace (Docker:
/// its stop sends the stop signal through containerd first, then the same SIGKILL), else
/// the stop ([`EngineInfo::kill_is_quickest_stop`]).
pub(super) async fn kill(rt: &DockerRuntime, id: &str) -> EngineResult<()> {
    if !rt.engine().await?.kill_is_quickest_stop() {
        return stop(rt, id, 0).await;
    }
    let path = format!("/containers/{}/kill?signal=SIGKILL", raw::path_segment(id));
    match rt.send(Method::POST, &path, Bytes::new()).await {
        // Docker's 409 for a container that is not running.
        Err(EngineError::Conflict(m)) if m.contains("is not running") => Ok(()),
        answer => answer.map(drop),
    }
}

pub(super) async fn remove(rt: &DockerRuntime, id: &str, force: bool) -> EngineResult<()> {
    // `v`: anonymous volumes go with the container, as `docker run --rm` does.
    let path = format!("/containers/{}?force={force}&v=true", raw::path_segment(id));
    rt.send(Method::DELETE, &path, Bytes::new()).await.map(drop)
}

pub(super) async fn list(
    rt: &DockerRuntime,
    filters: &[LabelFilter],
    all: bool,
) -> EngineResult<Vec<ContainerSummary>> {
    let mut path = format!("/containers/json?all={all}");
    if !filters.is_empty() {
        let query = serde_json::json!({ "label": label_filter_values(filters) });
        path.push_str(&format!("&filters={}", raw::query_value(&query.to_string())));
    }
    let serde_json::Value::Array(rows) = rt.get_json(&path).await? else {
        return Err(EngineError::Api {
            status: 0,
            message: "the engine's container list is not a JSON array".to_string(),
        });
    };
    Ok(rows.into_iter().map(container_summary).collect())
}

pub(super) async fn wait_exit(rt: &DockerRuntime, id: &str) -> EngineResult<i64> {
    let docker = rt.client().await?;
    let mut answers = docker.wait_container(id, None);
    match answers.next().await {
        Some(Ok(answer)) => Ok(answer.status_code),
        // bollard turns a non-zero status into an error; it is still the exit code.
        Some(Err(BollardError::DockerContainerWaitError { error, code })) => {
            if !error.is_empty() {
                tracing::warn!(container = id, "engine reported while waiting: {error}");
            }
            Ok(code)
        }
        Some(Err(e)) => Err(rt.err(e)),
        None => Err(EngineError::Api {
            status: 0,
            message: format!("the wait for container {id} ended without an exit status"),
        }),
    }
}

pub(super) async fn inspect_raw(rt: &DockerRuntime, id: &str) -> EngineResult<serde_json::Value> {
    rt.get_json(&format!("/containers/{}/json", raw::path_segment(id)))
        .await
}

fn strip_slash(name: &str) -> String {
    name.strip_prefix('/').unwrap_or(name).to_string()
}

/// A container's labels as berth reads them, in inspect and list answers alike: a value that
/// is not a string is skipped, and labels that are not an object (or `null`) are none.
fn string_labels(v: serde_json::Value) -> HashMap<String, String> {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(v) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// [`string_labels`] for a field decoded with serde.
fn deserialize_labels<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<String, String>, D::Error> {
    serde_json::Value::deserialize(d).map(string_labels)
}

/// `T` when the field's value reads as one, else absent: an odd value of a field berth only
/// reads does not fail the whole answer.
fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    serde_json::Value::deserialize(d).map(|v| serde_json::from_value(v).ok())
}

/// The fields of an inspect answer (Docker's or Podman's) the lifecycle reads; the rest of
/// the answer is skipped while decoding. Every field may be missing or `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InspectAnswer {
    id: Option<String>,
    name: Option<String>,
    /// The image id; `Config.Image` is the name the container was created from.
    image: Option<String>,
    config: Option<InspectConfig>,
    state: Option<InspectStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InspectConfig {
    image: Option<String>,
    #[serde(deserialize_with = "deserialize_labels")]
    labels: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct InspectStatus {
    status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    exit_code: Option<i64>,
    #[serde(rename = "OOMKilled", deserialize_with = "lenient")]
    oom_killed: Option<bool>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl InspectAnswer {
    /// The lifecycle's view of the answer.
    fn into_state(self) -> ContainerState {
        let config = self.config.unwrap_or_default();
        let state = self.state.unwrap_or_default();
        let image = config.image.or(self.image).unwrap_or_default();
        ContainerState {
            id: self.id.unwrap_or_default(),
            name: strip_slash(&self.name.unwrap_or_default()),
            image: familiar_image_name(&image),
            status: raw::engine_status(&state.status.unwrap_or_default()),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            started_at: real_time(state.started_at),
            finished_at: real_time(state.finished_at),
            labels: config.labels,
        }
    }
}

/// One row of a container list answer (Docker's or Podman's).
fn container_summary(mut row: serde_json::Value) -> ContainerSummary {
    let labels = row
        .get_mut("Labels")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    let name = row
        .get("Names")
        .and_then(serde_json::Value::as_array)
        .and_then(|names| names.first())
        .and_then(serde_json::Value::as_str)
        .map(strip_slash)
        .unwrap_or_default();
    ContainerSummary {
        id: json_str(&row, "/Id"),
        name,
        image: familiar_image_name(&json_str(&row, "/Image")),
        status: raw::engine_status(&json_str(&row, "/State")),
        created: row
            .get("Created")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        labels: string_labels(labels),
    }
}

/// The engine's zero time means "never".
fn real_time(t: Option<String>) -> Option<String> {
    t.filter(|s| !s.is_empty() && !s.starts_with("0001-01-01"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_of(answer: serde_json::Value) -> ContainerState {
        serde_json::from_value::<InspectAnswer>(answer)
            .unwrap()
            .into_state()
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_docker_answer_reads_only_what_the_lifecycle_needs() {
        // Docker 20.10's shape, trimmed; everything not read is skipped.
        let answer = json!({
            "Id": "3f2a",
            "Created": "2026-12-05T08:00:00.1Z",
            "Path": "/usr/local/bin/python",
            "Args": ["-u", "-m", "m"],
            "State": {
                "Status": "exited", "Running": false, "Paused": false, "Restarting": false,
                "OOMKilled": true, "Dead": false, "Pid": 0, "ExitCode": 137, "Error": "",
                "StartedAt": "2026-12-05T08:00:01.5Z", "FinishedAt": "2026-12-05T08:00:09.25Z"
            },
            "Image": "sha256:9c7a",
            "Name": "/berth-job-1",
            "RestartCount": 0,
            "HostConfig": {"NetworkMode": "net", "Mounts": [{"Type": "tmpfs", "Target": "/w"}]},
            "Mounts": [],
            "Config": {
                "Hostname": "3f2a", "Image": "docker.io/library/python:3.11",
                "Labels": {"org.berth.job": "j1", "org.berth.site": "s"},
                "Env": ["A=1"], "Cmd": ["x"]
            },
            "NetworkSettings": {"Networks": {"net": {"IPAddress": "172.18.0.2"}}}
        });
        assert_eq!(
            state_of(answer),
            ContainerState {
                id: "3f2a".into(),
                name: "berth-job-1".into(),
                image: "python:3.11".into(),
                status: "exited".into(),
                exit_code: Some(137),
                oom_killed: true,
                started_at: Some("2026-12-05T08:00:01.5Z".into()),
                finished_at: Some("2026-12-05T08:00:09.25Z".into()),
                labels: labels(&[("org.berth.job", "j1"), ("org.berth.site", "s")]),
            }
        );
    }

    #[test]
    fn a_podman_answer_reads_in_dockers_words() {
        // Podman 4's compatible answer: `stopped`, a running container never finished.
        let answer = json!({
            "Id": "9e1b",
            "Name": "berth-job-2",
            "Image": "5d0da3dc9764",
            "State": {
                "OciVersion": "1.0.2-dev", "Status": "stopped", "Running": false,
                "OOMKilled": false, "ExitCode": 0,
                "StartedAt": "2026-12-05T08:00:01.000000001Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
                "Health": {"Status": "", "FailingStreak": 0, "Log": null}
            },
            "Config": {"Image": "docker.io/berth/stub:1", "Labels": null, "Env": null}
        });
        assert_eq!(
            state_of(answer),
            ContainerState {
                id: "9e1b".into(),
                name: "berth-job-2".into(),
                image: "berth/stub:1".into(),
                status: "exited".into(),
                exit_code: Some(0),
                oom_killed: false,
                started_at: Some("2026-12-05T08:00:01.000000001Z".into()),
                finished_at: None,
                labels: HashMap::new(),
            }
        );
        let configured = state_of(json!({"State": {"Status": "configured"}}));
        assert_eq!(configured.status, "created");
    }

    #[test]
    fn zero_and_empty_times_are_never() {
        let s = state_of(json!({"State": {
            "Status": "created", "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": ""
        }}));
        assert_eq!((s.started_at, s.finished_at), (None, None));
    }

    #[test]
    fn missing_and_null_fields_read_as_empty() {
        assert_eq!(state_of(json!({})), ContainerState::default());
        assert_eq!(
            state_of(json!({"Id": null, "Name": null, "Config": null, "State": null})),
            ContainerState::default()
        );
        let s = state_of(json!({"Image": "busybox", "State": {"ExitCode": null}}));
        assert_eq!((s.image.as_str(), s.exit_code), ("busybox", None));
    }

    #[test]
    fn the_create_body_is_sent_as_planned() {
        let docker = EngineInfo {
            api_version: "1.41".into(),
            engine_version: "20.10.24".into(),
            platform: "Docker Engine - Community".into(),
        };
        let shapes = CheckedShapes::default();
        // A null goes to the engine as it is.
        let body = json!({"Image": "img:1", "HostConfig": {"Mounts": [{"Source": null}]}});
        let sent = create_request_body(&docker, &shapes, &body).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&sent).unwrap(), body);
        let err = create_request_body(&docker, &shapes, &json!([1])).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message } if message.contains("JSON object")),
            "{err}"
        );
        // A key bollard's model does not know is one the engine would ignore: refused.
        let misspelled = json!({"Image": "img:1", "HostConfig": {"Mounts": [{"Source": null}], "X": 1}});
        let err = create_request_body(&docker, &shapes, &misspelled).unwrap_err();
        assert!(
            matches!(&err, EngineError::Api { status: 0, message } if message.contains("HostConfig.X")),
            "{err}"
        );
    }

    #[test]
    fn create_answers_read_with_or_without_warnings() {
        for (answer, warnings) in [
            (r#"{"Id":"3f2a","Warnings":["low memory"]}"#, Some(1)),
            (r#"{"Id":"3f2a","Warnings":null}"#, None),
            (r#"{"Id":"3f2a"}"#, None),
        ] {
            let read: CreateAnswer =
                raw::decode(answer.as_bytes(), &Method::POST, "/containers/create").unwrap();
            assert_eq!(read.id, "3f2a");
            assert_eq!(read.warnings.map(|w| w.len()), warnings);
        }
        assert!(raw::decode::<CreateAnswer>(b"{}", &Method::POST, "/containers/create").is_err());
    }

    #[test]
    fn labels_that_are_not_strings_are_skipped_in_inspect_and_list() {
        let odd = json!({"a": "1", "b": 2, "c": null, "d": {"e": "f"}, "g": true});
        let s = state_of(json!({"Config": {"Labels": odd.clone()}}));
        assert_eq!(s.labels, labels(&[("a", "1")]));
        let row = container_summary(json!({"Id": "3f2a", "Labels": odd}));
        assert_eq!(row.labels, labels(&[("a", "1")]));
        for not_a_map in [json!(null), json!("a=1"), json!(["a=1"])] {
            assert!(state_of(json!({"Config": {"Labels": not_a_map.clone()}}))
                .labels
                .is_empty());
            assert!(container_summary(json!({"Labels": not_a_map})).labels.is_empty());
        }
    }

    #[test]
    fn an_odd_exit_code_or_oom_flag_reads_as_absent() {
        for (exit_code, oom_killed) in [
            (json!("137"), json!("true")),
            (json!(137.5), json!(1)),
            (json!({"Code": 137}), json!([true])),
        ] {
            let s = state_of(json!({
                "Id": "3f2a",
                "State": {"Status": "exited", "ExitCode": exit_code, "OOMKilled": oom_killed}
            }));
            assert_eq!(
                (s.id.as_str(), s.status.as_str(), s.exit_code, s.oom_killed),
                ("3f2a", "exited", None, false)
            );
        }
    }
}
