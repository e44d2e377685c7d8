//! What the in-memory engine suites share: the site, its image and network, and plans as
//! the core builder would make them.

#![allow(dead_code)]

use berth_core::args::Role;
use berth_core::labels;
use berth_core::plan::ContainerPlan;
use std::collections::HashMap;

pub const SITE: &str = "site-1";
pub const IMAGE: &str = "nvflare/nvflare:test";
pub const NET: &str = "nvflare-network";

pub fn site_labels(job: &str) -> HashMap<String, String> {
    [
        (labels::MANAGED, "true"),
        (labels::SITE, SITE),
        (labels::ROLE, "client"),
        (labels::JOB_ID, job),
        (labels::WORKSPACE, "/ws"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn name(job: &str) -> String {
    format!("{SITE}-{job}")
}

/// A plan as the core builder would make it, by hand.
pub fn plan(job: &str) -> ContainerPlan {
    ContainerPlan {
        name: name(job),
        job_id: job.to_string(),
        site: SITE.to_string(),
        role: Role::Client,
        image: IMAGE.to_string(),
        create: serde_json::json!({
            "Image": IMAGE,
            "Cmd": ["/usr/local/bin/python", "-u", "-m", "nvflare.private.fed.app.client.worker_process"],
            "Labels": site_labels(job),
            "HostConfig": {"AutoRemove": false, "NetworkMode": NET},
        }),
        platform: None,
        host_job_dir: format!("/ws/{job}"),
        parent_job_dir: format!("/ws/{job}").into(),
        warnings: vec![],
    }
}
