//! Networks: which exist.

use super::FakeRuntime;
use super::Method;
use crate::runtime::EngineResult;

impl FakeRuntime {
    pub fn add_network(&self, name: &str) {
        self.lock().networks.insert(name.to_string());
    }

    pub fn remove_network(&self, name: &str) {
        self.lock().networks.remove(name);
    }
}

pub(super) async fn exists(fake: &FakeRuntime, name: &str) -> EngineResult<bool> {
    fake.enter(Method::NetworkExists, name).await?;
    Ok(fake.lock().networks.contains(name))
}
