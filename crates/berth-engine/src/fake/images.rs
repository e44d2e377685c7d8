//! Images: which exist, and which a pull can fetch.

use super::FakeRuntime;
use super::Method;
use crate::runtime::{EngineError, EngineResult};

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

pub(super) async fn exists(fake: &FakeRuntime, image: &str) -> EngineResult<bool> {
    fake.enter(Method::ImageExists, image).await?;
    Ok(fake.lock().images.contains(image))
}

pub(super) async fn pull(fake: &FakeRuntime, image: &str) -> EngineResult<()> {
    fake.enter(Method::PullImage, image).await?;
    let mut s = fake.lock();
    if s.pullable.contains(image) {
        s.images.insert(image.to_string());
        Ok(())
    } else {
        Err(EngineError::NotFound(format!(
            "pull access denied for {image}, repository does not exist"
        )))
    }
}
