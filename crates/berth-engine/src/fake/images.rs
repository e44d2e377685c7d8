//! Images: which exist, and which a pull can fetch.

use super::FakeRuntime;

impl FakeRuntime {
    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(image.to_string());
    }

    pub fn remove_image(&self, image: &str) {
        self.lock().images.remove(image);
    }

    /// Make `pull_image(image)` succeed (it fails with 404 otherwise).
    pub fn make_pullable(&self, image: &str) {
        self.lock().pullable.insert(image.to_string());
    }
}
