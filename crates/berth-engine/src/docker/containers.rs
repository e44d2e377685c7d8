//! Containers: create, start, inspect, stop, remove, list, wait, and how the engine's
//! inspect and list answers read.

use super::create_body::create_body_model;
use super::images::familiar_image_name;
use super::{json_str, label_filter_values, DockerRuntime};
use crate::dialect::adapt_create_body;
use crate::raw;
use crate::runtime::{ContainerState, ContainerSummary, EngineError, EngineResult, LabelFilter};
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::stream::StreamExt;
use std::collections::HashMap;

pub(super) async fn create(
    rt: &DockerRuntime,
    name: &str,
    body: &serde_json::Value,
    platform: Option<&str>,
) -> EngineResult<String> {
    let (docker, info) = rt.negotiated().await?;
    let model = create_body_model(&adapt_create_body(info, body)?)?;
    let mut options = CreateContainerOptionsBuilder::default().name(name);
    if let Some(p) = platform {
        options = options.platform(p);
    }
    let answer = docker
        .create_container(Some(options.build()), model)
        .await
        .map_err(|e| rt.err(e))?;
    for warning in &answer.warnings {
        tracing::warn!(container = name, "engine warning on create: {warning}");
    }
    Ok(answer.id)
}

pub(super) async fn start(rt: &DockerRuntime, id: &str) -> EngineResult<()> {
    let docker = rt.client().await?;
    docker.start_container(id, None).await.map_err(|e| rt.err(e))
}

pub(super) async fn inspect(rt: &DockerRuntime, id: &str) -> EngineResult<ContainerState> {
    let c = inspect_raw(rt, id).await?;
    Ok(container_state(&c))
}

pub(super) async fn stop(rt: &DockerRuntime, id: &str, grace_secs: u32) -> EngineResult<()> {
    let docker = rt.client().await?;
    // One request: bollard reads the engine's 304 (not running) as success, which is
    // what a caller that wants the container stopped needs.
    let t = i32::try_from(grace_secs).unwrap_or(i32::MAX);
    let options = StopContainerOptionsBuilder::default().t(t).build();
    docker
        .stop_container(id, Some(options))
        .await
        .map_err(|e| rt.err(e))
}

pub(super) async fn remove(rt: &DockerRuntime, id: &str, force: bool) -> EngineResult<()> {
    let docker = rt.client().await?;
    // `v`: anonymous volumes go with the container, as `docker run --rm` does.
    let options = RemoveContainerOptionsBuilder::default()
        .force(force)
        .v(true)
        .build();
    docker
        .remove_container(id, Some(options))
        .await
        .map_err(|e| rt.err(e))
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
    let rows = rt.get_json(&path).await?;
    let rows = rows.as_array().ok_or_else(|| EngineError::Api {
        status: 0,
        message: "the engine's container list is not a JSON array".to_string(),
    })?;
    Ok(rows.iter().map(container_summary).collect())
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

fn json_labels(v: Option<&serde_json::Value>) -> HashMap<String, String> {
    v.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The lifecycle's view of an inspect answer (Docker's or Podman's).
fn container_state(c: &serde_json::Value) -> ContainerState {
    let image = c
        .pointer("/Config/Image")
        .or_else(|| c.get("Image"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let time = |p: &str| real_time(Some(json_str(c, p)));
    ContainerState {
        id: json_str(c, "/Id"),
        name: strip_slash(&json_str(c, "/Name")),
        image: familiar_image_name(image),
        status: raw::engine_status(&json_str(c, "/State/Status")),
        exit_code: c.pointer("/State/ExitCode").and_then(serde_json::Value::as_i64),
        oom_killed: c
            .pointer("/State/OOMKilled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        started_at: time("/State/StartedAt"),
        finished_at: time("/State/FinishedAt"),
        labels: json_labels(c.pointer("/Config/Labels")),
    }
}

/// One row of a container list answer (Docker's or Podman's).
fn container_summary(row: &serde_json::Value) -> ContainerSummary {
    let name = row
        .get("Names")
        .and_then(serde_json::Value::as_array)
        .and_then(|names| names.first())
        .and_then(serde_json::Value::as_str)
        .map(strip_slash)
        .unwrap_or_default();
    ContainerSummary {
        id: json_str(row, "/Id"),
        name,
        image: familiar_image_name(&json_str(row, "/Image")),
        status: raw::engine_status(&json_str(row, "/State")),
        created: row
            .get("Created")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        labels: json_labels(row.get("Labels")),
    }
}

/// The engine's zero time means "never".
fn real_time(t: Option<String>) -> Option<String> {
    t.filter(|s| !s.is_empty() && !s.starts_with("0001-01-01"))
}
