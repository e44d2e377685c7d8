//! Networks: which exist.

use super::FakeRuntime;

impl FakeRuntime {
    pub fn add_network(&self, name: &str) {
        self.lock().networks.insert(name.to_string());
    }

    pub fn remove_network(&self, name: &str) {
        self.lock().networks.remove(name);
    }
}
