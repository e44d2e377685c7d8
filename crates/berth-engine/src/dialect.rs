//! Engine dialects: what berth sends differently to Podman's Docker-compatible API so that
//! the engine keeps the same promises, and what it refuses because Podman cannot keep them.
//!
//! The plan (berth-core) is written in the Docker Engine API. [`adapt_create_body`] turns it
//! into the request a given engine keeps, or refuses it with an error that says what and why.
//! It never drops a field silently. The rules, each checked on a real Podman 4.3.1:
//!
//! - **tmpfs owner.** Podman refuses the `uid=`/`gid=` tmpfs options ("unknown mount option").
//!   Its `U` option chowns the tmpfs to the container's user, which is the same effect when
//!   the asked owner is the container's `User`; any other owner is refused.
//! - **GPUs.** Podman before 5.0 ignores `HostConfig.DeviceRequests`: a job asking for GPUs
//!   would start without them, so berth refuses the request.
//!
//! What berth cannot adapt is reported instead: Podman before 5.0 does not flag OOM kills
//! ([`EngineInfo::reports_oom_kills`]); `berth doctor` says so.

use crate::runtime::{EngineError, EngineInfo, EngineResult};
use serde_json::Value;
use std::borrow::Cow;

/// The engine family behind the socket, from `/version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFamily {
    Docker,
    /// Podman's Docker-compatible service, with its major version.
    Podman {
        major: u32,
    },
}

impl EngineInfo {
    /// Docker unless `/version` names Podman.
    pub fn family(&self) -> EngineFamily {
        if self.platform.contains("Podman") {
            let major = self
                .engine_version
                .split('.')
                .next()
                .and_then(|m| m.trim().parse().ok())
                .unwrap_or(0);
            EngineFamily::Podman { major }
        } else {
            EngineFamily::Docker
        }
    }

    /// Whether the engine marks a container its kernel OOM-killed (`State.OOMKilled`, the
    /// `oom` event). Podman before 5.0 does neither: such a job ends as a plain exit 137,
    /// and berth cannot tell it from another SIGKILL.
    pub fn reports_oom_kills(&self) -> bool {
        match self.family() {
            EngineFamily::Docker => true,
            EngineFamily::Podman { major } => major >= PODMAN_OOM_FLAG_MAJOR,
        }
    }

    /// Whether the engine's kill with SIGKILL is its quickest way to stop a container with
    /// no grace. Docker's kill answers as soon as the container has stopped, one step
    /// before its stop would (measured: 86 against 93 ms); Podman's compatible kill waits for
    /// the end by polling every 250 ms (4.3.1: 271 against 210 ms for the stop).
    pub fn kill_is_quickest_stop(&self) -> bool {
        self.family() == EngineFamily::Docker
    }

    /// `Docker Engine 20.10.24` or `Podman Engine 4.3.1`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.platform, self.engine_version)
    }
}

/// The first Podman release that sets `State.OOMKilled`.
pub const PODMAN_OOM_FLAG_MAJOR: u32 = 5;

/// The first Podman release that honours `HostConfig.DeviceRequests`.
pub const PODMAN_DEVICE_REQUESTS_MAJOR: u32 = 5;

/// The create body `body` as engine `info` must receive it to keep berth's promises; the
/// body unchanged (not copied) for Docker. An error names the field and says what to do.
pub fn adapt_create_body<'a>(info: &EngineInfo, body: &'a Value) -> EngineResult<Cow<'a, Value>> {
    let EngineFamily::Podman { major } = info.family() else {
        return Ok(Cow::Borrowed(body));
    };
    let mut body = body.clone();
    let user = body.get("User").and_then(Value::as_str).map(str::to_string);
    if let Some(host) = body.get_mut("HostConfig").and_then(Value::as_object_mut) {
        if major < PODMAN_DEVICE_REQUESTS_MAJOR {
            let asks_devices = host
                .get("DeviceRequests")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty());
            if asks_devices {
                return Err(unsupported(
                    info,
                    "HostConfig.DeviceRequests (GPUs from `device_requests`)",
                    "Podman before 5.0 ignores it and the job would start without its GPUs; \
                     use Podman 5 or later, or Docker, for GPU jobs",
                ));
            }
        }
        if let Some(tmpfs) = host.get_mut("Tmpfs").and_then(Value::as_object_mut) {
            for (target, options) in tmpfs.iter_mut() {
                if let Some(text) = options.as_str() {
                    *options = Value::String(podman_tmpfs_options(info, target, text, user.as_deref())?);
                }
            }
        }
    }
    Ok(Cow::Owned(body))
}

/// Podman's form of one tmpfs option string: `uid=U,gid=G` becomes `U` (owner = the
/// container's user) when `U:G` is the container's `User`.
fn podman_tmpfs_options(
    info: &EngineInfo,
    target: &str,
    options: &str,
    user: Option<&str>,
) -> EngineResult<String> {
    let mut kept = Vec::new();
    let (mut uid, mut gid) = (None, None);
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if let Some(v) = option.strip_prefix("uid=") {
            uid = Some(v);
        } else if let Some(v) = option.strip_prefix("gid=") {
            gid = Some(v);
        } else {
            kept.push(option.to_string());
        }
    }
    if uid.is_none() && gid.is_none() {
        return Ok(options.to_string());
    }
    let (user_uid, user_gid) = match user.and_then(|u| u.split_once(':')) {
        Some((u, g)) => (Some(u), Some(g)),
        None => (user, None),
    };
    let owner_is_user = uid.is_none_or(|u| Some(u) == user_uid) && gid.is_none_or(|g| Some(g) == user_gid);
    if !owner_is_user {
        return Err(unsupported(
            info,
            &format!(
                "HostConfig.Tmpfs[{target}] owner uid={},gid={}",
                uid.unwrap_or("-"),
                gid.unwrap_or("-")
            ),
            &format!(
                "Podman refuses the uid=/gid= tmpfs options and can only make a tmpfs owned by the \
                 container's user ({}); drop the owner from that tmpfs or run the job as that owner",
                user.filter(|u| !u.is_empty())
                    .unwrap_or("the image's default user")
            ),
        ));
    }
    kept.push("U".to_string());
    Ok(kept.join(","))
}

fn unsupported(info: &EngineInfo, what: &str, why: &str) -> EngineError {
    EngineError::Unsupported {
        engine: info.describe(),
        what: what.to_string(),
        why: why.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn podman(version: &str) -> EngineInfo {
        EngineInfo {
            api_version: "1.41".into(),
            engine_version: version.into(),
            platform: "Podman Engine".into(),
        }
    }

    fn docker() -> EngineInfo {
        EngineInfo {
            api_version: "1.41".into(),
            engine_version: "20.10.24".into(),
            platform: "Docker Engine - Community".into(),
        }
    }

    fn body() -> Value {
        json!({
            "Image": "i", "User": "1000:1001",
            "HostConfig": {
                "Tmpfs": {"/var/tmp/nvflare/workspace": "mode=1777,uid=1000,gid=1001", "/scratch": "size=64m"},
                "DeviceRequests": []
            }
        })
    }

    #[test]
    fn families_come_from_the_platform() {
        assert_eq!(docker().family(), EngineFamily::Docker);
        assert_eq!(podman("4.3.1").family(), EngineFamily::Podman { major: 4 });
        assert_eq!(podman("5.2.0").family(), EngineFamily::Podman { major: 5 });
        assert_eq!(podman("4.3.1").describe(), "Podman Engine 4.3.1");
        assert!(docker().kill_is_quickest_stop());
        assert!(!podman("4.3.1").kill_is_quickest_stop());
        assert!(docker().reports_oom_kills());
        assert!(!podman("4.3.1").reports_oom_kills());
        assert!(podman("5.0.1").reports_oom_kills());
    }

    #[test]
    fn docker_gets_the_plan_unchanged() {
        let mut b = body();
        b["HostConfig"]["DeviceRequests"] = json!([{"Count": -1}]);
        let adapted = adapt_create_body(&docker(), &b).unwrap();
        assert!(matches!(adapted, Cow::Borrowed(_)));
        assert_eq!(*adapted, b);
    }

    #[test]
    fn podman_gets_the_tmpfs_owned_by_the_container_user() {
        let planned = body();
        let adapted = adapt_create_body(&podman("4.3.1"), &planned).unwrap();
        assert_eq!(
            adapted["HostConfig"]["Tmpfs"],
            json!({"/var/tmp/nvflare/workspace": "mode=1777,U", "/scratch": "size=64m"})
        );
        // Everything else is as planned.
        let mut rest = adapted.into_owned();
        rest["HostConfig"]["Tmpfs"] = body()["HostConfig"]["Tmpfs"].clone();
        assert_eq!(rest, body());
    }

    #[test]
    fn a_tmpfs_owner_other_than_the_user_is_refused_on_podman() {
        let mut b = body();
        b["HostConfig"]["Tmpfs"]["/scratch"] = json!("uid=0");
        let err = adapt_create_body(&podman("4.3.1"), &b).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Podman Engine 4.3.1"), "{text}");
        assert!(text.contains("HostConfig.Tmpfs[/scratch] owner uid=0"), "{text}");
        assert!(text.contains("1000:1001"), "{text}");
    }

    #[test]
    fn gpus_are_refused_before_podman_5_and_passed_from_5() {
        let mut b = body();
        b["HostConfig"]["DeviceRequests"] = json!([{"Count": -1, "Capabilities": [["gpu"]]}]);
        let err = adapt_create_body(&podman("4.3.1"), &b).unwrap_err();
        assert!(
            matches!(&err, EngineError::Unsupported { what, .. } if what.contains("DeviceRequests")),
            "{err}"
        );
        let adapted = adapt_create_body(&podman("5.0.0"), &b).unwrap();
        assert_eq!(
            adapted["HostConfig"]["DeviceRequests"],
            b["HostConfig"]["DeviceRequests"]
        );
    }
}
