//! Site study files: v1 `local/study_data.yaml` and v2 `local/study_runtime.yaml` (spec §7).
//!
//! CONTRACT:
//! - `pub struct DataMount { pub target: String, pub source: String, pub read_only: bool }`
//! - `pub struct SecretEnvRef { pub name: String, pub source: String }`
//! - `pub struct StudyRuntime { pub image: Option<String>, pub datasets: Vec<DataMount>, pub env: Vec<(String, String)>, pub secret_env: Vec<SecretEnvRef>, pub secret_mounts: Vec<DataMount>, pub docker_kwargs: Map }`
//! - `pub fn load_runtime_for_launch(parent_root: &Path, study: Option<&str>, warnings: &mut Vec<String>) -> Result<Option<StudyRuntime>>`
//! - `pub fn load_v1_mounts(parent_root: &Path, study: &str, warnings: &mut Vec<String>) -> Result<Vec<DataMount>>`
