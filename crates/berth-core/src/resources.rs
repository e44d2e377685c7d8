//! Portable resources (`resource_spec` `num_of_gpus`, `num_of_cpus`, `memory`, `@default`),
//! spec §4.3.
//!
//! CONTRACT:
//! - `pub struct PortableResources { pub num_of_gpus: Option<i64>, pub num_of_cpus: Option<i64>, pub memory_bytes: Option<i64> }`
//! - `pub fn portable_resources(meta: &Map, site: &str) -> Result<PortableResources>` (Invalid kind)
//! - `pub fn memory_to_mib(s: &str) -> Result<i64>`, `pub fn memory_to_bytes(s: &str) -> Result<i64>`
