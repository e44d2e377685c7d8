//! Networks: presence, and the admin calls that create and remove them.

use super::DockerRuntime;
use crate::runtime::{ContainerRuntime, EngineError, EngineResult};
use bollard::models::NetworkCreateRequest;

impl DockerRuntime {
    /// Creates a bridge network; returns its id. `Conflict` when the name is taken.
    pub async fn create_network(&self, name: &str) -> EngineResult<String> {
        let docker = self.client().await?;
        // Engines before API 1.44 accept duplicate names unless asked to check, and bollard's
        // model no longer has that flag: look first (a concurrent creator can still win).
        if self.network_exists(name).await? {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            ..Default::default()
        };
        let answer = docker.create_network(request).await.map_err(|e| self.err(e))?;
        Ok(answer.id)
    }

    /// Removes a network. `NotFound` when it does not exist.
    pub async fn remove_network(&self, name: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        docker.remove_network(name).await.map_err(|e| self.err(e))
    }
}

/// `ContainerRuntime::network_exists`.
pub(super) async fn exists(rt: &DockerRuntime, name: &str) -> EngineResult<bool> {
    let docker = rt.client().await?;
    match docker.inspect_network(name, None).await {
        Ok(_) => Ok(true),
        Err(e) => match rt.err(e) {
            EngineError::NotFound(_) => Ok(false),
            other => Err(other),
        },
    }
}
