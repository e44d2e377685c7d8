//! berth-audit: checks a live job container against what its site allows.
//!
//! [`audit_container`] reads the engine's whole inspect answer for one container and
//! reports, per [`Check`], what breaks the policy: a Docker socket or host path mounted
//! outside the plan, privileged mode, added capabilities or devices, host namespaces, a
//! user other than the launcher's, writable `startup/` or `local/`, credentials in the
//! command line, auto-remove, missing labels. The policy comes from the site config
//! ([`SitePolicy`]), narrowed to the container's job by its labels ([`AuditPolicy`]); a
//! site that sets `privileged`, `cap_add`, `devices`, `ipc_mode`, ... in its container
//! options allows exactly those.
//!
//! [`engine_promises`] reads back what the engine made of a plan (for `berth doctor`).
//!
//! [`audit_live`] inspects through a runtime; [`assert_container_passes`] and
//! [`AuditingRuntime`] let test suites audit every container they create.

mod checks;
mod live;
mod policy;
mod promises;
mod report;

pub use checks::{audit_container, drops_all_capabilities};
pub use live::{assert_container_passes, audit_live, AuditRecord, AuditingRuntime};
pub use policy::{AuditPolicy, SiteAllowances, SitePolicy};
pub use promises::{engine_promises, Promise};
pub use report::{AuditReport, Check, Finding, Severity};
