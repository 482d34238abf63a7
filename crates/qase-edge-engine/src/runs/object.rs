//! What a run's `RunWatch` object (`qase_edge::runs::run_watch`) is asked
//! and what it answers: the calls are one serde enum ([`RunWatchCall`],
//! one JSON body each, `POST` through the stub), the answers typed
//! ([`ApplyAnswer`], [`RunState`], [`TakeAnswer`]). The object only loads,
//! stores, mirrors and wakes; the rules are [`crate::runs::state`]'s.

use serde::{Deserialize, Serialize};

use super::report::RunKey;
use super::state::{self, Fetched, RunFact, RunState};
use crate::delivery::github::record::GithubChange;

/// A call to a run's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum RunWatchCall {
    /// Apply one event to the run (the fact names the run). Answers
    /// [`ApplyAnswer`].
    Apply {
        /// What the event says about its run.
        fact: RunFact,
    },
    /// The run's state as the object holds it (a run no event has reached
    /// is answered empty). Answers [`RunState`].
    State {
        /// The run.
        key: RunKey,
    },
    /// The run's state once it has ended, or after `timeout_ms` (`0`: at
    /// once). Answers [`RunState`].
    Wait {
        /// The run.
        key: RunKey,
        /// The longest the call waits for the run's end, in milliseconds.
        timeout_ms: u64,
    },
    /// Take the run's report for one report message (once per run: only
    /// that message, and its retries, may send it). Answers [`TakeAnswer`].
    Take {
        /// The run.
        key: RunKey,
        /// The queue message that asks.
        message_id: String,
        /// What that message fetched (`failures` and `details` keys of
        /// the call), kept as [`state::take_report`] says.
        #[serde(flatten)]
        fetched: Fetched,
    },
    /// Read or change the record of one of the run's GitHub destinations
    /// ([`crate::delivery::github::record::change`]). Answers
    /// [`crate::delivery::github::record::GithubAnswer`].
    Github {
        /// The run.
        key: RunKey,
        /// The GitHub destination.
        destination: String,
        /// The change.
        change: GithubChange,
    },
}

impl RunWatchCall {
    /// The run the call is about: the Worker sends it to this run's object
    /// ([`state::object_name`]).
    pub fn key(&self) -> RunKey {
        match self {
            RunWatchCall::Apply { fact } => RunKey {
                project: fact.project.clone(),
                run: fact.run,
            },
            RunWatchCall::State { key }
            | RunWatchCall::Wait { key, .. }
            | RunWatchCall::Take { key, .. }
            | RunWatchCall::Github { key, .. } => key.clone(),
        }
    }
}

/// The answer to [`RunWatchCall::Apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyAnswer {
    /// The state after the event.
    pub state: RunState,
    /// Whether this event ended the run.
    pub ended_now: bool,
}

/// The answer to [`RunWatchCall::Take`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum TakeAnswer {
    /// The report is this message's to send: the state to report (the
    /// object stores it when it changed, and mirrors it).
    Taken {
        /// The run's state, its report taken by the message (boxed: a
        /// refusal carries nothing).
        state: Box<RunState>,
    },
    /// Not this message's: another message took it, or the run has not ended.
    Refused,
}

impl TakeAnswer {
    /// What a take by `message_id` answers in `state`.
    pub fn of(state: &RunState, message_id: &str, fetched: Fetched) -> TakeAnswer {
        match state::take_report(state, message_id, fetched) {
            Some(taken) if state.status.is_final() => TakeAnswer::Taken {
                state: Box::new(taken),
            },
            _ => TakeAnswer::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::state::{ReportState, RunFactKind};
    use qase_webhooks::run_report::{FailureSource, Failures, RunCounts, RunOutcome};
    use serde_json::json;

    fn key() -> RunKey {
        RunKey {
            project: "WEB".into(),
            run: 42,
        }
    }

    fn ended() -> RunState {
        let counts: RunCounts = serde_json::from_value(
            json!({"cases": 1, "passed": 1, "failed": 0, "blocked": 0, "duration": 5}),
        )
        .unwrap();
        let fact = RunFact {
            event_id: "evt_1".into(),
            project: "WEB".into(),
            run: 42,
            at: 100,
            team_member_id: 5,
            kind: RunFactKind::Ended {
                outcome: RunOutcome::Completed,
                counts,
            },
        };
        state::apply(None, &fact, false).state
    }

    /// Serialises `call`, checks the JSON, reads it back.
    fn round_trip(call: RunWatchCall, expected: serde_json::Value) {
        let text = serde_json::to_value(&call).unwrap();
        assert_eq!(text, expected);
        assert_eq!(serde_json::from_value::<RunWatchCall>(text).unwrap(), call);
    }

    #[test]
    fn calls_are_tagged_json_and_read_back() {
        let run = json!({"project": "WEB", "run": 42});
        round_trip(
            RunWatchCall::State { key: key() },
            json!({"call": "state", "key": run}),
        );
        round_trip(
            RunWatchCall::Wait {
                key: key(),
                timeout_ms: 60_000,
            },
            json!({"call": "wait", "key": run, "timeout_ms": 60_000}),
        );
        round_trip(
            RunWatchCall::Take {
                key: key(),
                message_id: "m1".into(),
                fetched: Fetched::default(),
            },
            json!({"call": "take", "key": run, "message_id": "m1", "failures": null, "details": null}),
        );
        round_trip(
            RunWatchCall::Github {
                key: key(),
                destination: "gh".into(),
                change: GithubChange::Commented {
                    id: 7,
                    body: "d".into(),
                },
            },
            json!({"call": "github", "key": run, "destination": "gh",
                   "change": {"change": "commented", "id": 7, "body": "d"}}),
        );
        // A take of the version before details were fetched still reads.
        let older = json!({"call": "take", "key": run, "message_id": "m1", "failures": null});
        let read: RunWatchCall = serde_json::from_value(older).unwrap();
        assert!(
            matches!(read, RunWatchCall::Take { fetched, .. } if fetched == Fetched::default())
        );
        let fact = RunFact {
            event_id: "evt_1".into(),
            project: "WEB".into(),
            run: 42,
            at: 100,
            team_member_id: 5,
            kind: RunFactKind::Deleted,
        };
        let apply = RunWatchCall::Apply { fact: fact.clone() };
        let expected = json!({"call": "apply", "fact": serde_json::to_value(&fact).unwrap()});
        round_trip(apply, expected);
    }

    #[test]
    fn a_call_the_object_cannot_read_is_refused() {
        let refused = |value: serde_json::Value| serde_json::from_value::<RunWatchCall>(value);
        assert!(refused(json!({"call": "forget", "key": {"project": "WEB", "run": 1}})).is_err());
        assert!(refused(json!({"key": {"project": "WEB", "run": 1}})).is_err());
        // A wait must say how long: no default hides a broken caller.
        assert!(refused(json!({"call": "wait", "key": {"project": "WEB", "run": 1}})).is_err());
        assert!(refused(json!({"call": "state", "key": {"project": "WEB"}})).is_err());
    }

    #[test]
    fn a_call_goes_to_the_object_of_the_run_it_names() {
        let fact = RunFact {
            event_id: "evt_1".into(),
            project: "MOB".into(),
            run: 7,
            at: 1,
            team_member_id: 0,
            kind: RunFactKind::Other,
        };
        let mob = RunWatchCall::Apply { fact }.key();
        assert_eq!((mob.project.as_str(), mob.run), ("MOB", 7));
        let wait = RunWatchCall::Wait {
            key: key(),
            timeout_ms: 0,
        };
        assert_eq!(wait.key(), key());
    }

    #[test]
    fn the_report_is_taken_once_and_only_once_the_run_has_ended() {
        let running = state::empty("WEB", 42);
        let none = Fetched::default;
        assert_eq!(TakeAnswer::of(&running, "m1", none()), TakeAnswer::Refused);
        let failures = Failures {
            source: FailureSource::None,
            items: Vec::new(),
            more: 0,
        };
        let fetched = Fetched {
            failures: Some(failures.clone()),
            details: None,
        };
        let first = TakeAnswer::of(&ended(), "m1", fetched);
        let TakeAnswer::Taken { state: taken } = first else {
            panic!("not taken: {first:?}");
        };
        assert_eq!(taken.report, ReportState::Taken { by: "m1".into() });
        assert_eq!(taken.failures, Some(failures));
        // Its own retry may send it again; another message may not.
        assert!(matches!(
            TakeAnswer::of(&taken, "m1", none()),
            TakeAnswer::Taken { .. }
        ));
        assert_eq!(TakeAnswer::of(&taken, "m2", none()), TakeAnswer::Refused);
    }

    #[test]
    fn answers_are_tagged_json_and_read_back() {
        let refused = serde_json::to_value(TakeAnswer::Refused).unwrap();
        assert_eq!(refused, json!({"answer": "refused"}));
        let taken = TakeAnswer::Taken {
            state: Box::new(ended()),
        };
        let text = serde_json::to_value(&taken).unwrap();
        assert_eq!(text["answer"], "taken");
        assert_eq!(serde_json::from_value::<TakeAnswer>(text).unwrap(), taken);
        let apply = ApplyAnswer {
            state: ended(),
            ended_now: true,
        };
        let text = serde_json::to_string(&apply).unwrap();
        assert_eq!(serde_json::from_str::<ApplyAnswer>(&text).unwrap(), apply);
    }
}
