//! The fake engine's answers: every [`ContainerRuntime`] request, from the table in
//! `state`, with the engine's 404 / 304 / 409 answers.

use super::script::StartBehavior;
use super::state::{now_nanos, rfc3339_now, FakeContainer, FakeStatus, State, Subscriber};
use super::{FakeRuntime, Method};
use crate::runtime::*;
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::HashMap;
use tokio::sync::mpsc;

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    fn address(&self) -> String {
        "the fake engine".to_string()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        self.enter(Method::Ping, "").await?;
        Ok(EngineInfo {
            api_version: "1.41".into(),
            engine_version: "20.10.24-fake".into(),
            platform: "Fake Engine".into(),
        })
    }

    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        self.enter(Method::NetworkExists, name).await?;
        Ok(self.lock().networks.contains(name))
    }

    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        self.enter(Method::ImageExists, image).await?;
        Ok(self.lock().images.contains(image))
    }

    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        self.enter(Method::PullImage, image).await?;
        let mut s = self.lock();
        if s.pullable.contains(image) {
            s.images.insert(image.to_string());
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "pull access denied for {image}, repository does not exist"
            )))
        }
    }

    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        _platform: Option<&str>,
    ) -> EngineResult<String> {
        self.enter(Method::Create, name).await?;
        let image = body
            .get("Image")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let mut s = self.lock();
        if !s.images.contains(&image) {
            return Err(EngineError::NotFound(format!("No such image: {image}")));
        }
        if s.find(name).is_some() {
            return Err(EngineError::Conflict(format!(
                "The container name \"/{name}\" is already in use"
            )));
        }
        s.next_id += 1;
        let id = format!("{:064x}", 0xc0de_0000_0000u64 + s.next_id);
        let created = now_nanos() / 1_000_000_000;
        s.containers.push(FakeContainer {
            id: id.clone(),
            name: name.to_string(),
            image,
            status: FakeStatus::Created,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            labels: label_map(body),
            created,
            logs: Vec::new(),
            body: body.clone(),
        });
        let idx = s.containers.len() - 1;
        s.emit(idx, ContainerEventKind::Other("create".into()));
        Ok(id)
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        self.enter(Method::Start, id).await?;
        let mut exit_later = None;
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            match s.containers[i].status {
                FakeStatus::Running => return Err(EngineError::NotModified),
                FakeStatus::Created | FakeStatus::Exited | FakeStatus::Dead => {}
                FakeStatus::Removed => return Err(State::not_found(id)),
            }
            let behavior = s
                .start_behavior
                .get(&s.containers[i].name)
                .cloned()
                .unwrap_or(StartBehavior::Run);
            match behavior {
                StartBehavior::StayCreated => {}
                StartBehavior::Fail(err) => return Err(err),
                StartBehavior::Run | StartBehavior::ExitAfter { .. } | StartBehavior::ExitImmediately(_) => {
                    let c = &mut s.containers[i];
                    c.status = FakeStatus::Running;
                    c.started_at = Some(rfc3339_now());
                    c.exit_code = None;
                    c.finished_at = None;
                    s.emit(i, ContainerEventKind::Start);
                    match behavior {
                        StartBehavior::ExitImmediately(code) => s.finish(i, FakeStatus::Exited, Some(code)),
                        StartBehavior::ExitAfter { code, after } => {
                            exit_later = Some((s.containers[i].id.clone(), code, after))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some((cid, code, after)) = exit_later {
            self.spawn_exit_after(cid, code, after);
        }
        self.touched();
        Ok(())
    }

    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        self.enter(Method::Inspect, id).await?;
        let s = self.lock();
        s.find(id)
            .map(|i| s.containers[i].state())
            .ok_or_else(|| State::not_found(id))
    }

    async fn stop(&self, id: &str, _grace_secs: u32) -> EngineResult<()> {
        self.enter(Method::Stop, id).await?;
        let delay = {
            let s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            if s.containers[i].status != FakeStatus::Running {
                return Err(EngineError::NotModified);
            }
            s.stop_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            if s.containers[i].status == FakeStatus::Running {
                // Killed by SIGKILL: 128 + 9.
                s.finish(i, FakeStatus::Exited, Some(137));
            }
        }
        self.touched();
        Ok(())
    }

    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        self.enter(Method::Remove, id).await?;
        let delay = self.lock().remove_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        {
            let mut s = self.lock();
            let i = s.find(id).ok_or_else(|| State::not_found(id))?;
            let (cid, cname) = (s.containers[i].id.clone(), s.containers[i].name.clone());
            for key in [id.to_string(), cid, cname] {
                if let Some(left) = s.remove_conflicts.get_mut(&key) {
                    if *left > 0 {
                        *left -= 1;
                        if *left == 0 {
                            // The removal that was "in progress" completes.
                            s.remove_at(i);
                        }
                        return Err(EngineError::Conflict(format!(
                            "removal of container {id} is already in progress"
                        )));
                    }
                }
            }
            if s.containers[i].status == FakeStatus::Running && !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container {id}: container is running: stop the container before \
                     removing or force remove"
                )));
            }
            s.remove_at(i);
        }
        self.touched();
        Ok(())
    }

    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        self.enter(Method::List, "").await?;
        let s = self.lock();
        Ok(s.containers
            .iter()
            .filter(|c| c.status != FakeStatus::Removed)
            .filter(|c| all || c.status == FakeStatus::Running)
            .filter(|c| filters.iter().all(|f| f.matches(&c.labels)))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                image: c.image.clone(),
                status: c.status.as_str().to_string(),
                created: c.created,
                labels: c.labels.clone(),
            })
            .collect())
    }

    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        if let Err(e) = self.begin(Method::Events, "") {
            return stream::once(async move { Err(e) }).boxed();
        }
        let mut s = self.lock();
        if s.events_refused {
            return stream::once(async { Err(EngineError::Unreachable("event stream refused".into())) })
                .boxed();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        s.subscriptions_opened += 1;
        s.subscribers.push(Subscriber {
            filters: filters.to_vec(),
            tx,
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }

    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        if !follow {
            if let Err(e) = self.begin(Method::Logs, id) {
                return stream::once(async move { Err(e) }).boxed();
            }
            return stream::iter(self.logs_now(id)).boxed();
        }
        // Following goes on only while the container runs, as the engine's does; a hung
        // engine answers nothing.
        let this = self.clone();
        let id = id.to_string();
        stream::once(async move {
            if let Err(e) = this.enter(Method::Logs, &id).await {
                return stream::iter(vec![Err(e)]);
            }
            loop {
                let notified = this.changed.notified();
                {
                    let s = this.lock();
                    let running = s
                        .find(&id)
                        .is_some_and(|i| s.containers[i].status == FakeStatus::Running);
                    if !running {
                        break;
                    }
                }
                notified.await;
            }
            stream::iter(this.logs_now(&id))
        })
        .flatten()
        .boxed()
    }

    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        self.enter(Method::InspectRaw, id).await?;
        let s = self.lock();
        s.find(id)
            .map(|i| raw_inspect(&s.containers[i]))
            .ok_or_else(|| State::not_found(id))
    }

    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        self.enter(Method::WaitExit, id).await?;
        loop {
            let notified = self.changed.notified();
            {
                let s = self.lock();
                let i = s.find(id).ok_or_else(|| State::not_found(id))?;
                let c = &s.containers[i];
                if c.status.is_stopped() {
                    return Ok(c.exit_code.unwrap_or(-1));
                }
            }
            notified.await;
        }
    }
}

fn label_map(body: &serde_json::Value) -> HashMap<String, String> {
    body.get("Labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The inspect answer a real engine would give for what was created: the create body's
/// top-level fields become `Config`, its `HostConfig` is kept, and `Mounts` lists the
/// bind mounts as the engine reports them (`Destination`, `RW`).
fn raw_inspect(c: &FakeContainer) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut config = serde_json::Map::new();
    let mut host_config = json!({});
    if let Value::Object(body) = &c.body {
        for (k, v) in body {
            match k.as_str() {
                "HostConfig" => host_config = v.clone(),
                "NetworkingConfig" => {}
                _ => {
                    config.insert(k.clone(), v.clone());
                }
            }
        }
    }
    config.insert("Image".into(), json!(c.image));
    config.insert("Labels".into(), json!(c.labels));
    let mounts: Vec<Value> = host_config
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter(|m| m.get("Type").and_then(Value::as_str) == Some("bind"))
                .map(|m| {
                    json!({
                        "Type": "bind",
                        "Source": m.get("Source").cloned().unwrap_or(Value::Null),
                        "Destination": m.get("Target").cloned().unwrap_or(Value::Null),
                        "Mode": "",
                        "RW": !m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false),
                        "Propagation": "rprivate",
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (path, args) = match config.get("Cmd").and_then(Value::as_array) {
        Some(cmd) if !cmd.is_empty() => (cmd[0].clone(), Value::Array(cmd[1..].to_vec())),
        _ => (json!(""), json!([])),
    };
    json!({
        "Id": c.id,
        "Name": format!("/{}", c.name),
        "Image": c.image,
        "Path": path,
        "Args": args,
        "State": {
            "Status": c.status.as_str(),
            "Running": c.status == FakeStatus::Running,
            "OOMKilled": c.oom_killed,
            "ExitCode": c.exit_code.unwrap_or(0),
        },
        "Config": Value::Object(config),
        "HostConfig": host_config,
        "Mounts": mounts,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fake::StartBehavior;
    use std::time::Duration;

    pub(in crate::fake) fn body(image: &str, site: &str) -> serde_json::Value {
        serde_json::json!({"Image": image, "Labels": {"io.berth.managed": "true", "io.berth.site": site}})
    }

    #[tokio::test]
    async fn create_start_exit_and_remove() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c1", &body("img", "s"), None).await.unwrap();
        assert_eq!(fake.inspect("c1").await.unwrap().status, "created");
        fake.start(&id).await.unwrap();
        assert_eq!(fake.inspect(&id).await.unwrap().status, "running");
        assert_eq!(fake.start(&id).await, Err(EngineError::NotModified));
        assert!(fake.exit(&id, 3));
        let st = fake.inspect(&id).await.unwrap();
        assert_eq!((st.status.as_str(), st.exit_code), ("exited", Some(3)));
        assert_eq!(fake.stop(&id, 0).await, Err(EngineError::NotModified));
        fake.remove(&id, true).await.unwrap();
        assert!(fake.inspect(&id).await.unwrap_err().is_not_found());
        assert!(fake.remove(&id, true).await.unwrap_err().is_not_found());
        assert_eq!(fake.status(&id), Some(FakeStatus::Removed));
        assert_eq!(fake.count(Method::Inspect), 4);
    }

    #[tokio::test]
    async fn missing_image_and_name_conflict() {
        let fake = FakeRuntime::with("net", "img");
        assert!(fake
            .create("c", &body("other", "s"), None)
            .await
            .unwrap_err()
            .is_not_found());
        fake.create("c", &body("img", "s"), None).await.unwrap();
        assert!(matches!(
            fake.create("c", &body("img", "s"), None).await,
            Err(EngineError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn remove_conflict_then_gone() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c", &body("img", "s"), None).await.unwrap();
        fake.remove_conflicts(&id, 1);
        assert!(matches!(
            fake.remove(&id, true).await,
            Err(EngineError::Conflict(_))
        ));
        assert!(fake.remove(&id, true).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn wait_exit_returns_the_code() {
        let fake = FakeRuntime::with("net", "img");
        let id = fake.create("c", &body("img", "s"), None).await.unwrap();
        fake.on_start(
            "c",
            StartBehavior::ExitAfter {
                code: 4,
                after: Duration::from_millis(10),
            },
        );
        fake.start(&id).await.unwrap();
        assert_eq!(fake.wait_exit(&id).await, Ok(4));
    }
}
