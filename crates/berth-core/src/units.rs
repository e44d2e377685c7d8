//! Byte-size grammars.
//!
//! CONTRACT:
//! - `pub fn job_shm_size_bytes(v: &Value) -> Option<i64>`: the job-level `shm_size` grammar of
//!   spec §4.2 (integer 0..=i64::MAX, or the decimal byte-size string), `None` when invalid.
