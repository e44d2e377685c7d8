//! Events: the container events berth acts on, read alike from Docker and Podman.

use super::connection::map_error;
use super::{label_filter_values, DockerRuntime};
use crate::runtime::{ContainerEvent, ContainerEventKind, EngineError, EngineResult, LabelFilter};
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use std::collections::HashMap;

pub(super) fn open(
    rt: &DockerRuntime,
    filters: &[LabelFilter],
) -> BoxStream<'static, EngineResult<ContainerEvent>> {
    let this = rt.clone();
    // The engine's filters only narrow the stream; the action and every label filter are
    // checked here. Podman 4 keeps only one value of a repeated `event` filter, matches a
    // label filter without a value to nothing and ORs several label filters, so berth asks
    // for every action of containers carrying any of the `key=value` labels.
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    query.insert("type".to_string(), vec!["container".to_string()]);
    let with_values: Vec<LabelFilter> = filters.iter().filter(|f| f.value.is_some()).cloned().collect();
    if !with_values.is_empty() {
        query.insert("label".to_string(), label_filter_values(&with_values));
    }
    let wanted = filters.to_vec();
    let opened = async move {
        let docker = this.client().await?.clone();
        let options = EventsOptionsBuilder::default().filters(&query).build();
        let events = docker
            .events(Some(options))
            .map_err(move |e| map_error(e, &this.inner.endpoint))
            .try_filter_map(move |message| {
                let event = container_event(message).filter(|e| wanted.iter().all(|f| f.matches(&e.labels)));
                async move { Ok(event) }
            });
        Ok::<_, EngineError>(events)
    };
    stream::once(opened).try_flatten().boxed()
}

/// Event attributes are the container's labels plus these keys the engine adds (the last
/// two are Podman's).
const EVENT_OWN_ATTRIBUTES: &[&str] = &["image", "name", "exitCode", "containerExitCode", "podId"];

/// The actions [`ContainerRuntime::events`](crate::ContainerRuntime::events) yields.
const WATCHED_ACTIONS: &[&str] = &["start", "die", "oom", "destroy", "remove"];

/// The container event berth acts on, or `None` for another action. Podman names the
/// removal `remove` where Docker says `destroy`; both are [`ContainerEventKind::Destroy`].
/// Podman's `exitCode` attribute matches Docker's; its `containerExitCode` is on every event
/// (0 before the exit), so it is not read.
fn container_event(message: EventMessage) -> Option<ContainerEvent> {
    let action = message.action?;
    if !WATCHED_ACTIONS.contains(&action.as_str()) {
        return None;
    }
    let actor = message.actor.unwrap_or_default();
    let id = actor.id?;
    let mut attributes = actor.attributes.unwrap_or_default();
    let exit_code = attributes
        .get("exitCode")
        .and_then(|c| c.trim().parse::<i64>().ok());
    for key in EVENT_OWN_ATTRIBUTES {
        attributes.remove(*key);
    }
    let kind = match action.as_str() {
        "start" => ContainerEventKind::Start,
        "die" => ContainerEventKind::Die { exit_code },
        "oom" => ContainerEventKind::Oom,
        "destroy" | "remove" => ContainerEventKind::Destroy,
        other => ContainerEventKind::Other(other.to_string()),
    };
    let time_nano = message
        .time_nano
        .or_else(|| message.time.map(|s| s.saturating_mul(1_000_000_000)))
        .unwrap_or(0);
    Some(ContainerEvent {
        id,
        kind,
        labels: attributes,
        time_nano,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn podman_events_read_like_docker_ones() {
        let event = |action: &str| -> Option<ContainerEvent> {
            container_event(
                serde_json::from_value(json!({
                    "Type": "container", "Action": action,
                    "Actor": {"ID": "abc", "Attributes": {"containerExitCode": "0", "exitCode": "3",
                        "podId": "", "image": "docker.io/library/i:1", "name": "n", "k": "v"}},
                    "time": 1, "timeNano": 5_i64
                }))
                .unwrap(),
            )
        };
        let die = event("die").unwrap();
        assert_eq!(die.kind, ContainerEventKind::Die { exit_code: Some(3) });
        assert_eq!(die.labels, HashMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(event("remove").unwrap().kind, ContainerEventKind::Destroy);
        for other in ["create", "init", "cleanup", "attach"] {
            assert_eq!(event(other), None, "{other}");
        }
    }

    #[test]
    fn die_events_carry_exit_code_and_labels() {
        let message: EventMessage = serde_json::from_value(json!({
            "Type": "container", "Action": "die",
            "Actor": {"ID": "abc", "Attributes": {"exitCode": "3", "image": "i", "name": "n", "k": "v"}},
            "time": 1, "timeNano": 1000000001_i64
        }))
        .unwrap();
        let event = container_event(message).unwrap();
        assert_eq!(event.id, "abc");
        assert_eq!(event.kind, ContainerEventKind::Die { exit_code: Some(3) });
        assert_eq!(event.labels, HashMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(event.time_nano, 1000000001);
    }
}
