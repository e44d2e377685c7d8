//! The container plan: inputs in, the exact Engine API container-create body out.

use crate::args::Role;
use std::path::PathBuf;

/// Everything the engine layer needs to create one job container. Plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    /// The container name (`<site>-<job_id>`, sanitised).
    pub name: String,
    pub job_id: String,
    pub site: String,
    pub role: Role,
    pub image: String,
    /// The Docker Engine API `POST /containers/create` body (a JSON object).
    pub create: serde_json::Value,
    /// `platform` query parameter of the create call, when a site or study set one.
    pub platform: Option<String>,
    /// The job folder as the engine sees it (bind source).
    pub host_job_dir: String,
    /// The job folder as berth reads it (parent view).
    pub parent_job_dir: PathBuf,
    /// Warnings raised while planning (typos, missing study entries, ...).
    pub warnings: Vec<String>,
}
