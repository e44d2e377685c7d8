//! Submission-time job meta validation (spec §4.4): portable/native conflicts and legacy
//! nested GPU consistency. The launcher does not call this; `berth plan --check-submission`
//! and the corpus do.
//!
//! CONTRACT:
//! - `pub fn validate_job_meta(meta: &Map) -> Result<()>` (Invalid kind)
