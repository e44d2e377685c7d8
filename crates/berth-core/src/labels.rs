//! berth's ownership labels. Every container berth creates carries them, and they are the
//! source of truth for `ps`, recovery and cleanup: all three are "list containers with
//! these labels".

/// Marks a container as created by berth (value `"true"`).
pub const MANAGED: &str = "io.berth.managed";
/// The site (server or client) name that launched the container.
pub const SITE: &str = "io.berth.site";
/// `server` or `client`.
pub const ROLE: &str = "io.berth.role";
/// The NVFlare job id.
pub const JOB_ID: &str = "io.berth.job-id";
/// The host workspace the job's folders live in, so a site that moved is told apart.
pub const WORKSPACE: &str = "io.berth.workspace";
/// A digest of the container-create body, to tie a container to the recorded launch.
pub const PLAN_DIGEST: &str = "io.berth.plan-digest";
/// Every berth label key starts with this; a site or study may not set one.
pub const PREFIX: &str = "io.berth.";
