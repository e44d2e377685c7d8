//! The job's Docker launcher spec: `launcher_spec` resolution (default + site shallow merge,
//! legacy nested `resource_spec[site].docker` fallback, typo warnings) and the five-key
//! job allowlist with its per-field validators (spec §4.1, §4.2).
//!
//! CONTRACT (implemented by the job-spec work):
//! - `pub const JOB_DOCKER_KEYS: [&str; 5]` = image, python_path, entrypoint, num_of_gpus, shm_size
//! - `pub const JOB_CONTAINER_KWARGS: [&str; 2]` = entrypoint, shm_size
//! - `pub fn suspicious_launcher_spec_keys(launcher_spec: &Map) -> Vec<String>`
//! - `pub fn resolve_docker_spec(meta: &Map, site: &str, warnings: &mut Vec<String>) -> Result<Map>`
//! - `pub fn validate_job_docker_options(spec: &Map, label: &str) -> Result<()>` (Invalid kind)
