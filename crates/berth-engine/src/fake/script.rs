//! What a container does on its own, scripted by a test: a job exiting with a code, being
//! OOM-killed or going dead, a slow stop or removal, a removal behind berth's back; and
//! what a test reads back of the containers.

use super::state::rfc3339_now;
use super::state::{FakeContainer, FakeStatus};
use super::FakeRuntime;
use crate::runtime::*;
use std::collections::HashMap;
use std::time::Duration;

/// What `start` does to a container, scripted per container name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartBehavior {
    /// Reaches `running` (the default).
    Run,
    /// `start` succeeds but the container stays `created` for ever.
    StayCreated,
    /// The job ends at once with this exit code, before anyone sees it `running`.
    ExitImmediately(i64),
    /// Runs, then exits with `code` after `after` (needs a tokio runtime).
    ExitAfter { code: i64, after: Duration },
    /// `start` answers with this error and the container stays `created`.
    Fail(EngineError),
}

impl FakeRuntime {
    /// A container that exists before the test starts (a leftover of an earlier run).
    /// Returns its id.
    pub fn seed_container(
        &self,
        name: &str,
        image: &str,
        labels: HashMap<String, String>,
        status: FakeStatus,
        exit_code: Option<i64>,
    ) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("{:064x}", 0xfeed_0000_0000u64 + s.next_id);
        s.containers.push(FakeContainer {
            id: id.clone(),
            name: name.to_string(),
            image: image.to_string(),
            status,
            exit_code,
            oom_killed: false,
            started_at: None,
            finished_at: status.is_stopped().then(rfc3339_now),
            labels,
            created: 0,
            logs: Vec::new(),
            body: serde_json::Value::Null,
        });
        id
    }

    /// What `start` does for the container named `name` (created later or already).
    pub fn on_start(&self, name: &str, behavior: StartBehavior) {
        self.lock().start_behavior.insert(name.to_string(), behavior);
    }

    /// Every stop of a running container takes this long before it answers.
    pub fn set_stop_delay(&self, delay: Duration) {
        self.lock().stop_delay = delay;
    }

    /// Every `remove` takes this long before the container goes (a slow removal).
    pub fn set_remove_delay(&self, delay: Duration) {
        self.lock().remove_delay = delay;
    }

    /// The next `times` removals of `id_or_name` answer 409 "removal already in progress"
    /// (and the container is then removed, as the engine's own removal finishes).
    pub fn remove_conflicts(&self, id_or_name: &str, times: usize) {
        self.lock().remove_conflicts.insert(id_or_name.to_string(), times);
    }

    /// The job in a running container ends with `code`: `exited`, and a die event.
    pub fn exit(&self, id_or_name: &str, code: i64) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) if !s.containers[i].status.is_stopped() => {
                    s.finish(i, FakeStatus::Exited, Some(code));
                    true
                }
                _ => false,
            }
        };
        self.touched();
        done
    }

    /// The kernel OOM-kills the job: an oom event, then `exited` 137 and a die event.
    pub fn oom_kill(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) if !s.containers[i].status.is_stopped() => {
                    s.containers[i].oom_killed = true;
                    s.emit(i, ContainerEventKind::Oom);
                    s.finish(i, FakeStatus::Exited, Some(137));
                    true
                }
                _ => false,
            }
        };
        self.touched();
        done
    }

    /// The container goes `dead` (the engine failed to stop or remove it).
    pub fn make_dead(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.finish(i, FakeStatus::Dead, None);
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// Someone else (`docker rm -f`) removes the container: die (if running) and destroy
    /// events are emitted as the engine would.
    pub fn remove_behind_back(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.remove_at(i);
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// The container disappears without a trace: no event at all.
    pub fn vanish_silently(&self, id_or_name: &str) -> bool {
        let done = {
            let mut s = self.lock();
            match s.find(id_or_name) {
                Some(i) => {
                    s.containers[i].status = FakeStatus::Removed;
                    true
                }
                None => false,
            }
        };
        self.touched();
        done
    }

    /// The container's status, `Removed` included; `None` if it never existed.
    pub fn status(&self, id_or_name: &str) -> Option<FakeStatus> {
        let s = self.lock();
        s.find(id_or_name).map(|i| s.containers[i].status).or_else(|| {
            s.containers
                .iter()
                .rev()
                .find(|c| c.id == id_or_name || c.name == id_or_name)
                .map(|c| c.status)
        })
    }

    /// Containers that are not removed.
    pub fn live_containers(&self) -> Vec<ContainerState> {
        self.lock()
            .containers
            .iter()
            .filter(|c| c.status != FakeStatus::Removed)
            .map(FakeContainer::state)
            .collect()
    }

    /// The id of the live container named `name`.
    pub fn id_of(&self, name: &str) -> Option<String> {
        let s = self.lock();
        s.find(name).map(|i| s.containers[i].id.clone())
    }

    pub(super) fn spawn_exit_after(&self, id: String, code: i64, after: Duration) {
        let fake = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(after).await;
                    fake.exit(&id, code);
                });
            }
            Err(_) => tracing::warn!("fake engine: no tokio runtime to schedule the exit of {id}"),
        }
    }
}
