//! The job lifecycle as plain values: the phase a job is in, what can be observed of its
//! container, and [`step`], the one function that turns a state and an observation into
//! the next state and the actions to run. The I/O side (`job.rs`, `executor.rs`,
//! `watcher.rs`, `handle.rs`) only feeds observations in and runs the actions; nothing here
//! calls the engine or the store or reads a clock (times come in with the observations).
//!
//! The rules decided here and nowhere else:
//! - **terminate wins**: once a terminate has begun, any end observed is ABORTED, learned by
//!   what began it (a terminate, the start timeout, recovery);
//! - **an engine error is never an outcome**: it changes nothing;
//! - **set once**: `Ending` (the end is decided, its record under way) only moves on to
//!   `Ended`, and `Ended` absorbs every observation;
//! - **record, then remove**: a container is removed only once its outcome is durable; one
//!   whose outcome could not be recorded is kept for recovery.
//!
//! See docs/architecture.md, "Job lifecycle", for the diagram and the table.

use berth_core::{DockerStatus, JobReturnCode};
use berth_engine::ContainerState;
use berth_store::{JobOutcome, ObservedBy};

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Created; not seen running yet.
    Starting,
    /// Seen running.
    Running,
    /// A terminate has begun (`by` says which kind): any end observed from now on is
    /// ABORTED. `stopping`: the terminate holds the job and its stop is under way, with this
    /// ABORTED outcome being recorded alongside; the end is the terminate's to decide.
    Terminating {
        by: ObservedBy,
        stopping: Option<JobOutcome>,
    },
    /// The end is decided and its outcome is being recorded.
    Ending { outcome: JobOutcome, cleanup: Cleanup },
    /// The end. `unrecorded`: why the outcome could not be written (the container is kept).
    Ended {
        outcome: JobOutcome,
        unrecorded: Option<String>,
    },
}

/// What becomes of the container once its outcome is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// After waking the waiters, in the background: keep the output, then remove the
    /// container (or keep it while retention allows).
    Background,
    /// Before waking the waiters: remove it (a terminate; its output was copied alongside
    /// the stop).
    RemoveNow,
    /// Nothing: the container is gone.
    Nothing,
}

/// What the lifecycle knows of a job that never changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job<'a> {
    pub job_id: &'a str,
    pub container_id: &'a str,
    /// The engine may restart the container: a die event is then not the end.
    pub may_restart: bool,
}

/// A job's lifecycle state: its phase and what the engine's events said along the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub phase: Phase,
    pub oom_seen: bool,
    /// A die event was seen, with the engine's `exitCode` attribute when it had one.
    pub die: Option<Option<i64>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            phase: Phase::Starting,
            oom_seen: false,
            die: None,
        }
    }
}

impl State {
    /// The outcome, once ended.
    pub fn outcome(&self) -> Option<&JobOutcome> {
        match &self.phase {
            Phase::Ended { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// The end is decided (recorded or being recorded).
    pub fn decided(&self) -> bool {
        matches!(self.phase, Phase::Ending { .. } | Phase::Ended { .. })
    }

    /// The end is someone else's to decide right now: it is being recorded, or a
    /// terminate's stop is under way.
    pub fn busy(&self) -> bool {
        matches!(
            self.phase,
            Phase::Ending { .. }
                | Phase::Terminating {
                    stopping: Some(_),
                    ..
                }
        )
    }
}

/// What was seen of a job's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observation {
    /// The engine's oom event.
    Oom,
    /// The engine's die event, with its `exitCode` attribute when it had one and its time.
    Die {
        exit_code: Option<i64>,
        finished_at: Option<String>,
        at_ms: i64,
    },
    /// The engine's destroy event.
    Destroyed,
    /// An inspect answered: the container's status, and its exit when it has ended.
    Inspected {
        status: DockerStatus,
        exit_code: Option<i64>,
        oom_killed: bool,
        finished_at: Option<String>,
        by: ObservedBy,
        at_ms: i64,
    },
    /// The engine does not know the container. `stored`: the outcome the store holds for
    /// it (recorded by this or another process). `decide`: nobody else will decide, so a
    /// container that vanished with nothing known is ABORTED; otherwise the event task,
    /// connected, may still report its end.
    Missing {
        stored: Option<JobOutcome>,
        decide: bool,
        at_ms: i64,
    },
    /// A terminate was asked for (`by`: a terminate, recovery's orphan policy).
    Terminate { by: ObservedBy },
    /// The container did not reach `running` within the start timeout: a terminate by
    /// [`ObservedBy::StartTimeout`].
    StartTimeout,
    /// The terminate now holds the job (no other observer decides meanwhile): stop it.
    StopNow { at_ms: i64 },
    /// The stop was answered. `heard`: the engine answered (stopped, already stopped, gone,
    /// or an error answer, which still ends ABORTED, as upstream); not heard: it could not
    /// be reached or did not answer, and the job may still run.
    StopAnswered { heard: bool },
    /// The store answered a [`Action::Record`]: the stored outcome (the first recorded for
    /// the container wins), or why it could not be written.
    Recorded(Result<JobOutcome, String>),
    /// The engine could not be asked.
    EngineError,
}

impl Observation {
    /// An inspect's answer.
    pub fn inspected(st: &ContainerState, by: ObservedBy, at_ms: i64) -> Self {
        Observation::Inspected {
            status: DockerStatus::parse(&st.status),
            exit_code: st.exit_code,
            oom_killed: st.oom_killed,
            finished_at: st.finished_at.clone(),
            by,
            at_ms,
        }
    }
}

/// What the I/O side runs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Make the outcome durable; answer with [`Observation::Recorded`].
    Record(JobOutcome),
    /// Stop the container with no grace, while the [`Action::Record`] and
    /// [`Action::FollowLog`] next to it run alongside; answer with
    /// [`Observation::StopAnswered`].
    Stop,
    /// Copy the job's output, following its log until the container stops.
    FollowLog,
    /// Take back the outcome the terminate recorded: its stop was not heard.
    Withdraw,
    /// Force-remove the container (its outcome is durable).
    Remove,
    /// In the background: keep the job's output, then remove the container unless
    /// retention keeps it; then mark the job settled.
    Cleanup,
    /// The launcher no longer follows the job.
    Untrack,
    /// Publish the terminal state, waking every waiter.
    Wake(JobReturnCode),
    /// This process has nothing left to do for the job.
    Settled,
    /// An event said the job ended but not how: inspect (and retry) until it is known.
    Inspect,
}

/// The outcome of a stopped container that no terminate can have touched (recovery, a
/// leftover of an earlier run): what the engine says, ABORTED when its status says nothing.
pub(crate) fn stopped_outcome(
    job_id: &str,
    container_id: &str,
    st: &ContainerState,
    by: ObservedBy,
    at_ms: i64,
) -> JobOutcome {
    let code = DockerStatus::parse(&st.status)
        .return_code(st.exit_code)
        .unwrap_or(JobReturnCode::Aborted);
    JobOutcome::new(job_id, container_id, code, by, at_ms).with_exit(
        st.exit_code,
        st.oom_killed,
        st.finished_at.clone(),
    )
}

/// The one step: from `state`, what `observation` leads to, and the actions to run.
pub(crate) fn step(job: Job<'_>, state: &State, observation: Observation) -> (State, Vec<Action>) {
    let mut next = state.clone();
    if let Phase::Ended { .. } = state.phase {
        return (next, Vec::new());
    }
    let actions = match observation {
        Observation::Oom => {
            next.oom_seen = true;
            Vec::new()
        }
        Observation::Die {
            exit_code,
            finished_at,
            at_ms,
        } => {
            next.die = Some(exit_code);
            match exit_code {
                _ if state.busy() => Vec::new(),
                Some(code) if !job.may_restart => {
                    let (rc, by) = ends_as(state, JobReturnCode::from_exit_code(code), ObservedBy::Event);
                    let outcome = JobOutcome::new(job.job_id, job.container_id, rc, by, at_ms).with_exit(
                        Some(code),
                        state.oom_seen,
                        finished_at,
                    );
                    end(&mut next, outcome, Cleanup::Background)
                }
                _ => vec![Action::Inspect],
            }
        }
        Observation::Destroyed if state.busy() => Vec::new(),
        Observation::Destroyed => vec![Action::Inspect],
        Observation::Inspected { .. } if state.busy() => Vec::new(),
        Observation::Inspected {
            status,
            exit_code,
            oom_killed,
            finished_at,
            by,
            at_ms,
        } => match status.return_code(exit_code) {
            Some(code) => {
                let (rc, by) = ends_as(state, code, by);
                let outcome = JobOutcome::new(job.job_id, job.container_id, rc, by, at_ms).with_exit(
                    exit_code,
                    oom_killed || state.oom_seen,
                    finished_at,
                );
                end(&mut next, outcome, Cleanup::Background)
            }
            None => {
                if status == DockerStatus::Running && state.phase == Phase::Starting {
                    next.phase = Phase::Running;
                }
                Vec::new()
            }
        },
        Observation::Missing { .. } if state.busy() => Vec::new(),
        Observation::Missing {
            stored: Some(stored), ..
        } => {
            let code = stored.return_code;
            next.phase = Phase::Ended {
                outcome: stored,
                unrecorded: None,
            };
            vec![Action::Untrack, Action::Wake(code), Action::Settled]
        }
        Observation::Missing {
            stored: None,
            decide,
            at_ms,
        } => {
            let (rc, exit_code, by) = match (terminating(state), state.die) {
                (Some(t), die) => (JobReturnCode::Aborted, die.flatten(), t),
                (None, Some(Some(code))) => {
                    (JobReturnCode::from_exit_code(code), Some(code), ObservedBy::Event)
                }
                (None, Some(None)) => (JobReturnCode::Aborted, None, ObservedBy::Vanished),
                (None, None) if decide => (JobReturnCode::Aborted, None, ObservedBy::Vanished),
                // Unknown: the event task may still report the end.
                (None, None) => return (next, Vec::new()),
            };
            let outcome = JobOutcome::new(job.job_id, job.container_id, rc, by, at_ms).with_exit(
                exit_code,
                state.oom_seen,
                None,
            );
            end(&mut next, outcome, Cleanup::Nothing)
        }
        Observation::Terminate { by } => {
            if matches!(state.phase, Phase::Starting | Phase::Running) {
                next.phase = Phase::Terminating { by, stopping: None };
            }
            Vec::new()
        }
        Observation::StartTimeout => {
            return step(
                job,
                state,
                Observation::Terminate {
                    by: ObservedBy::StartTimeout,
                },
            )
        }
        Observation::StopNow { at_ms } => match &state.phase {
            Phase::Terminating { by, stopping: None } => {
                // Recorded while the stop is under way, so it has no exit code or finish
                // time: what the kill gives (137) says nothing about the job.
                let outcome =
                    JobOutcome::new(job.job_id, job.container_id, JobReturnCode::Aborted, *by, at_ms)
                        .with_exit(None, state.oom_seen, None);
                next.phase = Phase::Terminating {
                    by: *by,
                    stopping: Some(outcome.clone()),
                };
                vec![Action::Stop, Action::Record(outcome), Action::FollowLog]
            }
            _ => Vec::new(),
        },
        Observation::StopAnswered { heard } => match &state.phase {
            Phase::Terminating {
                stopping: Some(outcome),
                ..
            } if heard => {
                next.phase = Phase::Ending {
                    outcome: outcome.clone(),
                    cleanup: Cleanup::RemoveNow,
                };
                Vec::new()
            }
            Phase::Terminating {
                by,
                stopping: Some(_),
            } => {
                // Nothing may stay recorded from a stop the engine never heard; the job
                // stays terminating, so any end seen later is ABORTED.
                next.phase = Phase::Terminating {
                    by: *by,
                    stopping: None,
                };
                let mut actions = vec![Action::Withdraw];
                if state.die.is_some() {
                    // A die event came while the stop was under way: look again.
                    actions.push(Action::Inspect);
                }
                actions
            }
            _ => Vec::new(),
        },
        Observation::Recorded(result) => match &state.phase {
            Phase::Ending { outcome, cleanup } => {
                let (outcome, unrecorded) = match result {
                    Ok(stored) => (stored, None),
                    Err(e) => (outcome.clone(), Some(e)),
                };
                let code = outcome.return_code;
                let cleanup = if unrecorded.is_some() {
                    Cleanup::Nothing
                } else {
                    *cleanup
                };
                next.phase = Phase::Ended { outcome, unrecorded };
                match cleanup {
                    Cleanup::Background => vec![Action::Untrack, Action::Wake(code), Action::Cleanup],
                    Cleanup::RemoveNow => vec![
                        Action::Remove,
                        Action::Untrack,
                        Action::Wake(code),
                        Action::Settled,
                    ],
                    Cleanup::Nothing => vec![Action::Untrack, Action::Wake(code), Action::Settled],
                }
            }
            _ => Vec::new(),
        },
        Observation::EngineError => Vec::new(),
    };
    (next, actions)
}

/// The terminate that has begun, if one has.
fn terminating(state: &State) -> Option<ObservedBy> {
    match state.phase {
        Phase::Terminating { by, .. } => Some(by),
        _ => None,
    }
}

/// Terminate wins: an end observed once a terminate has begun is ABORTED, learned by it.
fn ends_as(state: &State, code: JobReturnCode, by: ObservedBy) -> (JobReturnCode, ObservedBy) {
    match terminating(state) {
        Some(t) => (JobReturnCode::Aborted, t),
        None => (code, by),
    }
}

/// Decide the end: record `outcome` first.
fn end(next: &mut State, outcome: JobOutcome, cleanup: Cleanup) -> Vec<Action> {
    next.phase = Phase::Ending {
        outcome: outcome.clone(),
        cleanup,
    };
    vec![Action::Record(outcome)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobReturnCode::{Aborted, ExecutionError, Success};

    const AT: i64 = 1_000;

    fn job() -> Job<'static> {
        Job {
            job_id: "job-1",
            container_id: "c1",
            may_restart: false,
        }
    }

    fn in_phase(phase: Phase) -> State {
        State {
            phase,
            ..State::default()
        }
    }

    fn outcome(code: JobReturnCode, by: ObservedBy) -> JobOutcome {
        JobOutcome::new("job-1", "c1", code, by, AT)
    }

    fn die(code: Option<i64>) -> Observation {
        Observation::Die {
            exit_code: code,
            finished_at: Some("2026-01-01T00:00:00Z".into()),
            at_ms: AT,
        }
    }

    fn inspected(status: DockerStatus, code: Option<i64>) -> Observation {
        Observation::Inspected {
            status,
            exit_code: code,
            oom_killed: false,
            finished_at: Some("2026-01-01T00:00:01Z".into()),
            by: ObservedBy::Inspect,
            at_ms: AT,
        }
    }

    fn missing(decide: bool) -> Observation {
        Observation::Missing {
            stored: None,
            decide,
            at_ms: AT,
        }
    }

    /// Feed `observations` in order from `state`; the last state and every action.
    fn run(mut state: State, observations: Vec<Observation>) -> (State, Vec<Action>) {
        let mut all = Vec::new();
        for o in observations {
            let (next, actions) = step(job(), &state, o);
            state = next;
            all.extend(actions);
        }
        (state, all)
    }

    fn ending(state: &State) -> &JobOutcome {
        match &state.phase {
            Phase::Ending { outcome, .. } => outcome,
            other => panic!("not ending: {other:?}"),
        }
    }

    /// Every phase a job can be in.
    fn phases() -> Vec<Phase> {
        let aborted = outcome(Aborted, ObservedBy::Terminate);
        vec![
            Phase::Starting,
            Phase::Running,
            Phase::Terminating {
                by: ObservedBy::Terminate,
                stopping: None,
            },
            Phase::Terminating {
                by: ObservedBy::Terminate,
                stopping: Some(aborted.clone()),
            },
            Phase::Ending {
                outcome: aborted.clone(),
                cleanup: Cleanup::Background,
            },
            Phase::Ending {
                outcome: aborted.clone(),
                cleanup: Cleanup::RemoveNow,
            },
            Phase::Ended {
                outcome: aborted,
                unrecorded: None,
            },
        ]
    }

    /// Every kind of observation.
    fn observations() -> Vec<Observation> {
        vec![
            Observation::Oom,
            die(Some(0)),
            die(None),
            Observation::Destroyed,
            inspected(DockerStatus::Running, None),
            inspected(DockerStatus::Exited, Some(3)),
            inspected(DockerStatus::Dead, None),
            missing(true),
            missing(false),
            Observation::Missing {
                stored: Some(outcome(Success, ObservedBy::Event)),
                decide: false,
                at_ms: AT,
            },
            Observation::Terminate {
                by: ObservedBy::Terminate,
            },
            Observation::StartTimeout,
            Observation::StopNow { at_ms: AT },
            Observation::StopAnswered { heard: true },
            Observation::StopAnswered { heard: false },
            Observation::Recorded(Ok(outcome(Success, ObservedBy::Event))),
            Observation::Recorded(Err("disk full".into())),
            Observation::EngineError,
        ]
    }

    #[test]
    fn a_die_event_with_its_code_ends_the_job_from_the_event() {
        let (state, actions) = run(in_phase(Phase::Running), vec![die(Some(0))]);
        let o = ending(&state).clone();
        assert_eq!(
            (o.return_code, o.observed_by, o.exit_code),
            (Success, ObservedBy::Event, Some(0))
        );
        assert_eq!(o.finished_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(actions, vec![Action::Record(o.clone())]);

        let (state, actions) = run(state, vec![Observation::Recorded(Ok(o.clone()))]);
        assert_eq!(state.outcome(), Some(&o));
        assert_eq!(
            actions,
            vec![Action::Untrack, Action::Wake(Success), Action::Cleanup]
        );
    }

    #[test]
    fn a_die_event_that_cannot_end_the_job_asks_for_an_inspect() {
        // No exit code.
        let (state, actions) = run(in_phase(Phase::Running), vec![die(None)]);
        assert_eq!((state.phase.clone(), state.die), (Phase::Running, Some(None)));
        assert_eq!(actions, vec![Action::Inspect]);
        // A container the engine may restart.
        let restarting = Job {
            may_restart: true,
            ..job()
        };
        let (state, actions) = step(restarting, &in_phase(Phase::Running), die(Some(1)));
        assert_eq!((state.phase, state.die), (Phase::Running, Some(Some(1))));
        assert_eq!(actions, vec![Action::Inspect]);
    }

    #[test]
    fn terminate_wins_aborted_even_if_a_die_event_races() {
        // The die comes after the request, before the terminate holds the job.
        let requested = Observation::Terminate {
            by: ObservedBy::Terminate,
        };
        let (state, _) = run(in_phase(Phase::Running), vec![requested.clone(), die(Some(0))]);
        let o = ending(&state);
        assert_eq!(
            (o.return_code, o.observed_by, o.exit_code),
            (Aborted, ObservedBy::Terminate, Some(0))
        );

        // An inspect finds the job exited on its own after the request.
        let (state, _) = run(
            in_phase(Phase::Running),
            vec![requested.clone(), inspected(DockerStatus::Exited, Some(0))],
        );
        assert_eq!(ending(&state).return_code, Aborted);

        // The die comes while the stop is under way: the terminate's own record stands.
        let (state, actions) = run(
            in_phase(Phase::Running),
            vec![requested, Observation::StopNow { at_ms: AT }, die(Some(0))],
        );
        let aborted = outcome(Aborted, ObservedBy::Terminate);
        assert_eq!(
            actions,
            vec![Action::Stop, Action::Record(aborted.clone()), Action::FollowLog]
        );
        assert_eq!(
            state.phase,
            Phase::Terminating {
                by: ObservedBy::Terminate,
                stopping: Some(aborted.clone())
            }
        );
        let (state, actions) = run(
            state,
            vec![
                Observation::StopAnswered { heard: true },
                Observation::Recorded(Ok(aborted.clone())),
            ],
        );
        assert_eq!(state.outcome(), Some(&aborted));
        assert_eq!(
            aborted.exit_code, None,
            "the kill's code says nothing about the job"
        );
        assert_eq!(
            actions,
            vec![
                Action::Remove,
                Action::Untrack,
                Action::Wake(Aborted),
                Action::Settled
            ]
        );
    }

    #[test]
    fn the_first_terminate_names_the_observer() {
        let (state, actions) = run(
            in_phase(Phase::Starting),
            vec![
                Observation::StartTimeout,
                Observation::Terminate {
                    by: ObservedBy::Terminate,
                },
            ],
        );
        assert!(actions.is_empty());
        assert_eq!(
            state.phase,
            Phase::Terminating {
                by: ObservedBy::StartTimeout,
                stopping: None
            }
        );
    }

    #[test]
    fn an_engine_error_is_never_an_outcome() {
        for phase in phases() {
            let state = in_phase(phase);
            let (next, actions) = step(job(), &state, Observation::EngineError);
            assert_eq!((&next, actions), (&state, vec![]), "{:?}", state.phase);
        }
        // A stop the engine never heard: the record is taken back, the job goes on
        // terminating, and a later end is still ABORTED.
        let (state, actions) = run(
            in_phase(Phase::Running),
            vec![
                Observation::Terminate {
                    by: ObservedBy::Terminate,
                },
                Observation::StopNow { at_ms: AT },
                Observation::StopAnswered { heard: false },
            ],
        );
        assert_eq!(actions.last(), Some(&Action::Withdraw));
        assert_eq!(
            state.phase,
            Phase::Terminating {
                by: ObservedBy::Terminate,
                stopping: None
            }
        );
        let (state, _) = run(state, vec![inspected(DockerStatus::Exited, Some(0))]);
        assert_eq!(ending(&state).return_code, Aborted);
    }

    #[test]
    fn a_die_seen_during_a_stop_that_was_not_heard_is_looked_at_again() {
        let (_, actions) = run(
            in_phase(Phase::Running),
            vec![
                Observation::Terminate {
                    by: ObservedBy::Terminate,
                },
                Observation::StopNow { at_ms: AT },
                die(Some(0)),
                Observation::StopAnswered { heard: false },
            ],
        );
        assert_eq!(actions[actions.len() - 2..], [Action::Withdraw, Action::Inspect]);
    }

    #[test]
    fn ended_is_absorbing() {
        let ended = in_phase(Phase::Ended {
            outcome: outcome(ExecutionError, ObservedBy::Event),
            unrecorded: None,
        });
        for o in observations() {
            let (next, actions) = step(job(), &ended, o.clone());
            assert_eq!((&next, actions), (&ended, vec![]), "{o:?}");
        }
    }

    #[test]
    fn an_end_being_recorded_moves_on_only_with_the_record() {
        for cleanup in [Cleanup::Background, Cleanup::RemoveNow, Cleanup::Nothing] {
            let state = in_phase(Phase::Ending {
                outcome: outcome(Success, ObservedBy::Event),
                cleanup,
            });
            for o in observations() {
                let (next, actions) = step(job(), &state, o.clone());
                if matches!(o, Observation::Recorded(_)) {
                    assert!(next.outcome().is_some(), "{o:?}");
                } else {
                    assert_eq!(next.phase, state.phase, "{o:?}");
                    assert!(actions.is_empty(), "{o:?}: {actions:?}");
                }
            }
        }
    }

    #[test]
    fn the_stored_outcome_wins_and_an_unrecorded_one_keeps_the_container() {
        let mine = outcome(ExecutionError, ObservedBy::Inspect);
        let theirs = outcome(Success, ObservedBy::Event);
        let state = in_phase(Phase::Ending {
            outcome: mine.clone(),
            cleanup: Cleanup::RemoveNow,
        });
        let (next, actions) = step(job(), &state, Observation::Recorded(Ok(theirs.clone())));
        assert_eq!(next.outcome(), Some(&theirs));
        assert!(actions.contains(&Action::Wake(Success)));

        let (next, actions) = step(job(), &state, Observation::Recorded(Err("disk full".into())));
        assert_eq!(
            next.phase,
            Phase::Ended {
                outcome: mine,
                unrecorded: Some("disk full".into())
            }
        );
        assert_eq!(
            actions,
            vec![Action::Untrack, Action::Wake(ExecutionError), Action::Settled]
        );
    }

    #[test]
    fn the_container_is_removed_only_after_the_record_is_durable() {
        // Over every phase and observation: a removal (now or in the cleanup) and the
        // wake-up come only from a record the store accepted (or, for the wake-up, one it
        // held already), and the wake-up always goes with the end.
        for phase in phases() {
            for o in observations() {
                let (next, actions) = step(job(), &in_phase(phase.clone()), o.clone());
                let removes = actions
                    .iter()
                    .any(|a| matches!(a, Action::Remove | Action::Cleanup));
                if removes {
                    assert!(matches!(o, Observation::Recorded(Ok(_))), "{phase:?} {o:?}");
                }
                let wakes = actions.iter().any(|a| matches!(a, Action::Wake(_)));
                assert_eq!(
                    wakes,
                    next.outcome().is_some() && state_changed(&phase, &next),
                    "{phase:?} {o:?}"
                );
            }
        }
    }

    fn state_changed(before: &Phase, after: &State) -> bool {
        before != &after.phase
    }

    #[test]
    fn a_missing_container_ends_with_what_is_known_of_it() {
        // Recorded already (by this or another process): that outcome, nothing to record.
        let stored = outcome(Success, ObservedBy::Event);
        let (state, actions) = step(
            job(),
            &in_phase(Phase::Running),
            Observation::Missing {
                stored: Some(stored.clone()),
                decide: false,
                at_ms: AT,
            },
        );
        assert_eq!(state.outcome(), Some(&stored));
        assert_eq!(
            actions,
            vec![Action::Untrack, Action::Wake(Success), Action::Settled]
        );

        // A die event carried the code.
        let (state, _) = run(in_phase(Phase::Running), vec![Observation::Oom, die(Some(2))]);
        let state = State {
            phase: Phase::Running,
            ..state
        };
        let (state, _) = run(state, vec![missing(false)]);
        let o = ending(&state);
        assert_eq!(
            (o.return_code, o.exit_code, o.oom_killed, o.observed_by),
            (ExecutionError, Some(2), true, ObservedBy::Event)
        );
        // Gone, so nothing to remove after the record.
        let (_, actions) = run(state.clone(), vec![Observation::Recorded(Ok(o.clone()))]);
        assert!(!actions.contains(&Action::Remove) && !actions.contains(&Action::Cleanup));

        // Nothing known: undecided while the event task may still tell, else vanished.
        let (state, actions) = step(job(), &in_phase(Phase::Running), missing(false));
        assert_eq!((state.phase, actions), (Phase::Running, vec![]));
        let (state, _) = step(job(), &in_phase(Phase::Running), missing(true));
        let o = ending(&state);
        assert_eq!((o.return_code, o.observed_by), (Aborted, ObservedBy::Vanished));
        // A die without a code was seen: vanished, whoever asks.
        let (state, _) = run(in_phase(Phase::Running), vec![die(None), missing(false)]);
        assert_eq!(ending(&state).observed_by, ObservedBy::Vanished);
    }

    #[test]
    fn an_inspect_ends_a_stopped_job_and_follows_a_live_one() {
        let (state, actions) = step(
            job(),
            &in_phase(Phase::Starting),
            inspected(DockerStatus::Running, None),
        );
        assert_eq!((state.phase, actions), (Phase::Running, vec![]));
        let (state, _) = step(
            job(),
            &in_phase(Phase::Starting),
            inspected(DockerStatus::Created, None),
        );
        assert_eq!(state.phase, Phase::Starting);

        let (state, _) = run(
            in_phase(Phase::Running),
            vec![Observation::Oom, inspected(DockerStatus::Exited, Some(137))],
        );
        let o = ending(&state);
        assert_eq!(
            (o.return_code, o.exit_code, o.oom_killed, o.observed_by),
            (ExecutionError, Some(137), true, ObservedBy::Inspect)
        );
        assert_eq!(o.finished_at.as_deref(), Some("2026-01-01T00:00:01Z"));
        let (state, _) = step(
            job(),
            &in_phase(Phase::Running),
            inspected(DockerStatus::Dead, None),
        );
        assert_eq!(ending(&state).return_code, Aborted);
    }

    #[test]
    fn a_stopped_container_nobody_followed_gets_what_the_engine_says() {
        let st = |status: &str, code| ContainerState {
            status: status.into(),
            exit_code: code,
            oom_killed: true,
            finished_at: Some("t".into()),
            ..ContainerState::default()
        };
        let o = stopped_outcome("j", "c", &st("exited", Some(0)), ObservedBy::Recovery, AT);
        assert_eq!(
            (o.return_code, o.exit_code, o.oom_killed, o.finished_at.as_deref()),
            (Success, Some(0), true, Some("t"))
        );
        let o = stopped_outcome("j", "c", &st("removing", None), ObservedBy::Recovery, AT);
        assert_eq!(o.return_code, Aborted);
    }
}
