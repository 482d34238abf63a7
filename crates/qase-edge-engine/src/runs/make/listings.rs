//! The failed and blocked results of a run, listed page by page within a
//! budget ([`MAX_RESULT_PAGES`] per status), and the run's details asked
//! with the first pages: the rounds of [`super::MakeReport`]'s listing
//! stage, as a pure accumulator fed with what Qase's API answered.
//!
//! Qase's "Get all test run results" takes one status per call and at most
//! [`RESULTS_PAGE`] results a page; a run with more failures than one page
//! used to be reported from its first page only. Every page of both
//! statuses up to the budget is read now, the pages of one round at once.

use qase_webhooks::run_report::FailureStatus;

use crate::delivery::machine::{Op, OpResult};
use crate::runs::details::RunDetails;
use crate::runs::qase_api::{self, RESULTS_PAGE};
use crate::runs::settings::QaseApi;

/// The most pages of results read per status: with the run's details and
/// the titles of at most [`crate::runs::report::MAX_LISTED_FAILURES`]
/// cases, a report costs at most 1 + 2 × 5 + 20 = 31 calls to Qase's API.
pub const MAX_RESULT_PAGES: u64 = 5;

/// What one call of a round asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A page of results of the status at this index of [`STATUSES`].
    Page(usize),
    /// The run's details.
    Details,
}

const STATUSES: [FailureStatus; 2] = [FailureStatus::Failed, FailureStatus::Blocked];

/// The results of one status listed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Listed {
    /// The case of each result read (one per result, repeats included).
    cases: Vec<u64>,
    /// How many results Qase says matched.
    matched: u64,
    /// Pages read.
    pages: u64,
}

/// The listing so far (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listings {
    project: String,
    run: u64,
    lists: [Listed; 2],
    /// The run's details, when asked for and answered as documented.
    pub details: Option<RunDetails>,
    asked: Vec<Asked>,
}

/// Where the listing stands after a round.
#[derive(Debug, Clone)]
pub enum Round {
    /// More pages to read: these calls, at once.
    More(Vec<Op>),
    /// Every page within the budget read: the failed cases and the
    /// blocked ones, each `(cases, matched)` as [`qase_api::failed_cases`] takes them.
    Listed((Vec<u64>, u64), (Vec<u64>, u64)),
    /// A listing failed: the report goes out with the counts only.
    Failed,
}

impl Listings {
    /// The first round: the first page of each status, and the run's
    /// details when `with_details`.
    pub fn start(api: &QaseApi, project: &str, run: u64, with_details: bool) -> (Self, Vec<Op>) {
        let mut listings = Listings {
            project: project.to_owned(),
            run,
            lists: Default::default(),
            details: None,
            asked: Vec::new(),
        };
        let mut asked = vec![Asked::Page(0), Asked::Page(1)];
        if with_details {
            asked.push(Asked::Details);
        }
        let ops = listings.ask(api, asked);
        (listings, ops)
    }

    fn ask(&mut self, api: &QaseApi, asked: Vec<Asked>) -> Vec<Op> {
        let ops = asked
            .iter()
            .map(|asked| match *asked {
                Asked::Page(i) => {
                    let offset = self.lists[i].pages * u64::from(RESULTS_PAGE);
                    let (project, run) = (&self.project, self.run);
                    Op::Fetch(qase_api::results_request(
                        api,
                        project,
                        run,
                        STATUSES[i],
                        offset,
                    ))
                }
                Asked::Details => Op::Fetch(qase_api::run_request(api, &self.project, self.run)),
            })
            .collect();
        self.asked = asked;
        ops
    }

    /// Feeds a round's answers (in the order asked).
    pub fn feed(&mut self, api: &QaseApi, results: Vec<OpResult>) -> Round {
        let mut failed = false;
        let asked = std::mem::take(&mut self.asked);
        let mut results = results.into_iter();
        for asked in asked {
            let body = match results.next() {
                Some(OpResult::Fetched(answer)) => answer.ok_body().ok(),
                _ => None,
            };
            match asked {
                Asked::Details => self.details = body.as_deref().and_then(qase_api::parse_run),
                Asked::Page(i) => match body.as_deref().and_then(qase_api::parse_results) {
                    Some((cases, matched)) => {
                        let list = &mut self.lists[i];
                        list.cases.extend(cases);
                        list.matched = matched.max(list.cases.len() as u64);
                        list.pages += 1;
                    }
                    None => failed = true,
                },
            }
        }
        if failed {
            return Round::Failed;
        }
        let more: Vec<Asked> = (0..STATUSES.len())
            .filter(|&i| {
                let list = &self.lists[i];
                list.pages < MAX_RESULT_PAGES && list.pages * u64::from(RESULTS_PAGE) < list.matched
            })
            .map(Asked::Page)
            .collect();
        if !more.is_empty() {
            return Round::More(self.ask(api, more));
        }
        let [failed, blocked] = &self.lists;
        Round::Listed(
            (failed.cases.clone(), failed.matched),
            (blocked.cases.clone(), blocked.matched),
        )
    }
}
