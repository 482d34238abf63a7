//! The runs: one simulated `RunWatch` object per run (the engine's own
//! rules applied: [`state::apply`], [`TakeAnswer::of`]), Qase's REST API
//! (a listing, a case, or a fault), and each report message run by the
//! engine's [`MakeReport`].

use std::collections::BTreeSet;
use std::rc::Rc;

use qase_edge_engine::delivery::attempt::Disposition;
use qase_edge_engine::delivery::machine::{Op, OpResult, Request};
use qase_edge_engine::http::outbound::Answer;
use qase_edge_engine::runs::fetch::{FetchDetails, RunDetailsDue};
use qase_edge_engine::runs::make::MakeReport;
use qase_edge_engine::runs::object::TakeAnswer;
use qase_edge_engine::runs::report::{RunKey, RunReportDue};
use qase_edge_engine::runs::state::{self, Fetched, RunFact, RunState};

use super::consumer::Whose;
use super::world::World;

/// One run's object: its state and the event ids it applied.
#[derive(Default)]
pub struct RunObject {
    pub state: Option<RunState>,
    pub seen: BTreeSet<String>,
    /// The report messages whose take was answered `Taken`.
    pub takers: BTreeSet<String>,
}

impl World {
    /// One report message: the engine's [`MakeReport`].
    pub fn process_report(&mut self, message_id: &str, due: RunReportDue) -> Disposition {
        let config = Rc::clone(&self.config);
        let (mut machine, next) = MakeReport::start(&config, message_id, due);
        self.drive(&mut machine, next, |world, op, _| {
            world.carry(op, Whose::Report)
        })
    }

    /// One details message: the engine's [`FetchDetails`].
    pub fn process_details(&mut self, message_id: &str, due: RunDetailsDue) -> Disposition {
        let config = Rc::clone(&self.config);
        let (mut machine, next) = FetchDetails::start(&config, message_id, due);
        self.drive(&mut machine, next, |world, op, _| {
            world.carry(op, Whose::Report)
        })
    }

    /// A run object's call, or Qase's API.
    pub fn carry_run(&mut self, op: Op) -> OpResult {
        if let Op::Fetch(request) = &op {
            return self.fetch(request);
        }
        if self.rng.chance(self.faults.object_call) {
            return OpResult::Failed("simulated fault".into());
        }
        match op {
            Op::ApplyRun(fact) => self.apply_run(&fact),
            Op::ReadRun(key) => {
                let object = self.runs.get(&(key.project.clone(), key.run));
                let state = object.and_then(|object| object.state.clone());
                let state = state.unwrap_or_else(|| state::empty(&key.project, key.run));
                OpResult::Run(Box::new(state))
            }
            Op::TakeReport {
                key,
                message_id,
                fetched,
            } => self.take_report(&key, &message_id, fetched),
            other => unreachable!("not a run's call: {other:?}"),
        }
    }

    fn apply_run(&mut self, fact: &RunFact) -> OpResult {
        let object = self
            .runs
            .entry((fact.project.clone(), fact.run))
            .or_default();
        let seen = object.seen.contains(&fact.event_id);
        let applied = state::apply(object.state.take(), fact, seen);
        object.seen.insert(fact.event_id.clone());
        object.state = Some(applied.state.clone());
        OpResult::RunApplied {
            state: Box::new(applied.state),
            ended_now: applied.ended_now,
        }
    }

    fn take_report(&mut self, key: &RunKey, message_id: &str, fetched: Fetched) -> OpResult {
        let object = self.runs.entry((key.project.clone(), key.run)).or_default();
        let state = object.state.clone();
        let state = state.unwrap_or_else(|| state::empty(&key.project, key.run));
        match TakeAnswer::of(&state, message_id, fetched) {
            TakeAnswer::Taken { state } => {
                object.state = Some((*state).clone());
                object.takers.insert(message_id.to_owned());
                OpResult::Taken(Some(state))
            }
            TakeAnswer::Refused => OpResult::Taken(None),
        }
    }

    /// Qase's REST API: a result listing or a case, unless it times out,
    /// answers 429 or a 5xx.
    fn fetch(&mut self, request: &Request) -> OpResult {
        let api = self.config.runs.api.as_ref();
        let token = request.headers.iter().find(|(name, _)| name == "Token");
        if api.is_none() || token.map(|(_, value)| value) != api.map(|api| &api.token) {
            self.ledger.violation(format!(
                "Qase's API asked without its token: {}",
                request.url
            ));
        }
        self.ledger.fetches.0 += 1;
        if self.rng.chance(self.faults.api) {
            self.ledger.fetches.1 += 1;
            let answer = match self.rng.range(0, 2) {
                0 => {
                    self.now += request.timeout.as_millis() as u64;
                    Answer::Timeout(request.timeout)
                }
                1 => status(429, Some(self.rng.range(1, 60)), b""),
                _ => status(self.rng.pick(&[500, 502, 503]), None, b""),
            };
            return OpResult::Fetched(answer);
        }
        let body = if request.url.contains("/result/") {
            let cases: Vec<String> = (0..self.rng.range(0, 3))
                .map(|_| format!(r#"{{"case_id":{}}}"#, self.rng.range(1, 5)))
                .collect();
            format!(
                r#"{{"status":true,"result":{{"entities":[{}]}}}}"#,
                cases.join(",")
            )
        } else if request.url.contains("/run/") {
            // A run, finished or still in progress when read.
            let status = self.rng.pick(&["passed", "failed", "in_progress"]);
            let passed = self.rng.range(0, 5);
            format!(
                r#"{{"status":true,"result":{{"id":1,"status_text":"{status}","stats":{{"total":5,"statuses":{{"passed":{passed}}}}},"tags":[{{"title":"sim"}}]}}}}"#
            )
        } else {
            r#"{"status":true,"result":{"id":1,"title":"A case"}}"#.to_owned()
        };
        OpResult::Fetched(status(200, None, body.as_bytes()))
    }
}

fn status(status: u16, retry_after: Option<u64>, body: &[u8]) -> Answer {
    Answer::Status {
        status,
        retry_after,
        body: body.to_vec(),
        truncated: false,
    }
}
