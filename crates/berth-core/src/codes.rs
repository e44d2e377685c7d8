//! Return codes and container statuses, named as NVFlare names them.

use std::fmt;

/// The job process return code NVFlare's parent understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobReturnCode {
    Success,
    ExecutionError,
    /// Also the job's own abort code: a job that exits with 9 aborted itself.
    Aborted,
    Unknown,
    Exception,
    UnsafeComponent,
    ConfigError,
    InfrastructureError,
}

impl JobReturnCode {
    pub const ALL: [JobReturnCode; 8] = [
        JobReturnCode::Success,
        JobReturnCode::ExecutionError,
        JobReturnCode::Aborted,
        JobReturnCode::Unknown,
        JobReturnCode::Exception,
        JobReturnCode::UnsafeComponent,
        JobReturnCode::ConfigError,
        JobReturnCode::InfrastructureError,
    ];

    pub fn code(self) -> i32 {
        match self {
            JobReturnCode::Success => 0,
            JobReturnCode::ExecutionError => 1,
            JobReturnCode::Aborted => 9,
            JobReturnCode::Unknown => 127,
            JobReturnCode::Exception => 101,
            JobReturnCode::UnsafeComponent => 102,
            JobReturnCode::ConfigError => 103,
            JobReturnCode::InfrastructureError => 104,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// NVFlare's constant name (`SUCCESS`, `EXECUTION_ERROR`, ...).
    pub fn name(self) -> &'static str {
        match self {
            JobReturnCode::Success => "SUCCESS",
            JobReturnCode::ExecutionError => "EXECUTION_ERROR",
            JobReturnCode::Aborted => "ABORTED",
            JobReturnCode::Unknown => "UNKNOWN",
            JobReturnCode::Exception => "EXCEPTION",
            JobReturnCode::UnsafeComponent => "UNSAFE_COMPONENT",
            JobReturnCode::ConfigError => "CONFIG_ERROR",
            JobReturnCode::InfrastructureError => "INFRASTRUCTURE_ERROR",
        }
    }

    /// Map a container's exit code to a return code: 0 succeeds, 9 is the job's own abort
    /// code, everything else (1, 127, 137, ...) is an execution error. 127 is deliberately
    /// not UNKNOWN: the container did finish.
    pub fn from_exit_code(exit_code: i64) -> Self {
        match exit_code {
            0 => JobReturnCode::Success,
            9 => JobReturnCode::Aborted,
            _ => JobReturnCode::ExecutionError,
        }
    }
}

impl fmt::Display for JobReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A container's `State.Status` as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DockerStatus {
    Created,
    Restarting,
    Running,
    Paused,
    Exited,
    Dead,
    /// Anything else the engine reports (`removing`, ...): never terminal.
    Other,
}

impl DockerStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "created" => DockerStatus::Created,
            "restarting" => DockerStatus::Restarting,
            "running" => DockerStatus::Running,
            "paused" => DockerStatus::Paused,
            "exited" => DockerStatus::Exited,
            "dead" => DockerStatus::Dead,
            _ => DockerStatus::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DockerStatus::Created => "created",
            DockerStatus::Restarting => "restarting",
            DockerStatus::Running => "running",
            DockerStatus::Paused => "paused",
            DockerStatus::Exited => "exited",
            DockerStatus::Dead => "dead",
            DockerStatus::Other => "other",
        }
    }

    /// Only `exited` and `dead` end a job.
    pub fn is_terminal(self) -> bool {
        matches!(self, DockerStatus::Exited | DockerStatus::Dead)
    }

    /// The return code of a terminal status: `exited` maps its exit code (absent reads as
    /// 1), `dead` is ABORTED. `None` for a status that is not terminal.
    pub fn return_code(self, exit_code: Option<i64>) -> Option<JobReturnCode> {
        match self {
            DockerStatus::Exited => Some(JobReturnCode::from_exit_code(exit_code.unwrap_or(1))),
            DockerStatus::Dead => Some(JobReturnCode::Aborted),
            _ => None,
        }
    }
}

impl fmt::Display for DockerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // C006
    #[test]
    fn exit_zero_is_success() {
        assert_eq!(JobReturnCode::from_exit_code(0), JobReturnCode::Success);
    }

    // C007
    #[test]
    fn exit_nine_is_aborted() {
        assert_eq!(JobReturnCode::from_exit_code(9), JobReturnCode::Aborted);
    }

    // C008
    #[test]
    fn other_exit_codes_are_execution_errors_and_127_is_not_unknown() {
        for code in [1, 3, 127, 137, -1, 255] {
            assert_eq!(
                JobReturnCode::from_exit_code(code),
                JobReturnCode::ExecutionError,
                "{code}"
            );
        }
    }

    #[test]
    fn codes_round_trip() {
        for c in JobReturnCode::ALL {
            assert_eq!(JobReturnCode::from_code(c.code()), Some(c));
        }
        assert_eq!(JobReturnCode::from_code(5), None);
    }

    #[test]
    fn statuses_terminal_only_exited_and_dead() {
        let terminal: Vec<_> = [
            "created",
            "restarting",
            "running",
            "paused",
            "exited",
            "dead",
            "removing",
        ]
        .into_iter()
        .filter(|s| DockerStatus::parse(s).is_terminal())
        .collect();
        assert_eq!(terminal, ["exited", "dead"]);
        assert_eq!(
            DockerStatus::Exited.return_code(None),
            Some(JobReturnCode::ExecutionError)
        );
        assert_eq!(
            DockerStatus::Dead.return_code(Some(0)),
            Some(JobReturnCode::Aborted)
        );
        assert_eq!(DockerStatus::Running.return_code(Some(0)), None);
    }
}
