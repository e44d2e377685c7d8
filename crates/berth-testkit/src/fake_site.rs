//! The site of the suites that run on the in-memory engine: fixed names (each test has an
//! engine of its own, so nothing is shared), the labels berth puts on a job's container,
//! and plans as the core builder would make them, by hand.

use berth_core::args::Role;
use berth_core::labels;
use berth_core::plan::ContainerPlan;
use std::collections::HashMap;

pub const SITE: &str = "site-1";
pub const IMAGE: &str = "nvflare/nvflare:test";
pub const NET: &str = "nvflare-network";
/// The site's workspace as its containers' labels name it.
pub const WORKSPACE: &str = "/ws";

/// The labels of job `job`'s container in `workspace`.
pub fn site_labels(job: &str, workspace: &str) -> HashMap<String, String> {
    [
        (labels::MANAGED, "true"),
        (labels::SITE, SITE),
        (labels::ROLE, "client"),
        (labels::JOB_ID, job),
        (labels::WORKSPACE, workspace),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Job `job`'s container name.
pub fn name(job: &str) -> String {
    format!("{SITE}-{job}")
}

/// Job `job`'s plan, its job folder under [`WORKSPACE`].
pub fn plan(job: &str) -> ContainerPlan {
    ContainerPlan {
        name: name(job),
        job_id: job.to_string(),
        site: SITE.to_string(),
        role: Role::Client,
        image: IMAGE.to_string(),
        create: serde_json::json!({
            "Image": IMAGE,
            "Cmd": ["/usr/local/bin/python", "-u", "-m", crate::CLIENT_MODULE],
            "Labels": site_labels(job, WORKSPACE),
            "HostConfig": {"AutoRemove": false, "NetworkMode": NET},
        }),
        platform: None,
        host_job_dir: format!("{WORKSPACE}/{job}"),
        parent_job_dir: format!("{WORKSPACE}/{job}").into(),
        warnings: vec![],
    }
}
