//! The audit's result: findings per check, printable and serialisable.

use serde::Serialize;
use std::fmt;

/// One thing the audit looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// berth's labels are present and name this site, its workspace and a job.
    Labels,
    /// `HostConfig.AutoRemove` is false (DESIGN decision 1).
    AutoRemove,
    /// The job runs as the launcher's `uid:gid`.
    User,
    /// Not privileged unless the site set it.
    Privileged,
    /// No added capability the site did not add.
    Capabilities,
    /// No device, device rule or device request beyond the site's (GPU requests excepted).
    Devices,
    /// The site network; no host or shared pid, ipc, uts or user namespace the site did not set.
    Namespaces,
    /// No security option (seccomp, AppArmor, SELinux) the site did not set.
    SecurityOptions,
    /// Under the `restricted` profile: no-new-privileges, every capability dropped and a
    /// process limit, unless the site relaxed that option itself (then a note, not a failure).
    Restricted,
    /// Every mount is the job's own folder, startup/ or local/, or a host path outside the
    /// workspace that is neither a system directory nor a socket.
    Mounts,
    /// startup/ and local/ are mounted read-only.
    ReadOnlySiteFolders,
    /// No `NVFLARE_JOB_*` credential value in the command line.
    Credentials,
}

impl Check {
    pub const ALL: [Check; 12] = [
        Check::Labels,
        Check::AutoRemove,
        Check::User,
        Check::Privileged,
        Check::Capabilities,
        Check::Devices,
        Check::Namespaces,
        Check::SecurityOptions,
        Check::Restricted,
        Check::Mounts,
        Check::ReadOnlySiteFolders,
        Check::Credentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Labels => "labels",
            Check::AutoRemove => "auto-remove",
            Check::User => "user",
            Check::Privileged => "privileged",
            Check::Capabilities => "capabilities",
            Check::Devices => "devices",
            Check::Namespaces => "namespaces",
            Check::SecurityOptions => "security-options",
            Check::Restricted => "restricted",
            Check::Mounts => "mounts",
            Check::ReadOnlySiteFolders => "read-only-site-folders",
            Check::Credentials => "credentials",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is: a failure breaks the site's policy; a note is worth a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fail,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    pub message: String,
}

/// The audit of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub container_id: String,
    /// Without the leading `/`.
    pub container_name: String,
    pub job_id: Option<String>,
    pub passed: bool,
    pub findings: Vec<Finding>,
}

impl AuditReport {
    pub(crate) fn new(container_id: String, container_name: String, job_id: Option<String>) -> Self {
        Self {
            container_id,
            container_name,
            job_id,
            passed: true,
            findings: Vec::new(),
        }
    }

    pub(crate) fn fail(&mut self, check: Check, message: impl Into<String>) {
        self.passed = false;
        self.findings.push(Finding {
            check,
            severity: Severity::Fail,
            message: message.into(),
        });
    }

    pub(crate) fn note(&mut self, check: Check, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            severity: Severity::Note,
            message: message.into(),
        });
    }

    /// The findings that break the policy.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Fail)
    }

    /// Whether `check` failed.
    pub fn failed(&self, check: Check) -> bool {
        self.failures().any(|f| f.check == check)
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.container_id.get(..12).unwrap_or(&self.container_id);
        write!(
            f,
            "{} ({id}, job {}): {}",
            self.container_name,
            self.job_id.as_deref().unwrap_or("?"),
            if self.passed { "PASS" } else { "FAIL" }
        )?;
        for finding in &self.findings {
            let word = match finding.severity {
                Severity::Fail => "FAIL",
                Severity::Note => "note",
            };
            write!(f, "\n  {word} {}: {}", finding.check, finding.message)?;
        }
        Ok(())
    }
}
