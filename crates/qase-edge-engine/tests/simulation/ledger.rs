//! What the simulation saw happen, for the invariants: what each
//! destination took and when, attempts, dead letters, logged losses,
//! alerts, the duplicates the README allows, and violations seen on the way.

use std::collections::{HashMap, HashSet};

use qase_edge_engine::delivery::breaker::Change;

#[derive(Default)]
pub struct Ledger {
    /// Times each (event, destination) was taken, and when first.
    pub taken: HashMap<(String, usize), (u32, u64)>,
    pub attempts: HashMap<(String, usize), u32>,
    pub dead: HashMap<(String, usize), u32>,
    /// Every store refused: logged as lost by the consumer (`delivery_lost`).
    pub lost: HashSet<(String, usize)>,
    /// At-least-once cases: (event, destination), or (event, all).
    excused: HashSet<(String, Option<usize>)>,
    pub alerts: HashMap<usize, Vec<Change>>,
    pub violations: Vec<String>,
}

impl Ledger {
    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    pub fn taken(&mut self, id: &str, i: usize, now: u64) {
        self.taken.entry((id.to_owned(), i)).or_insert((0, now)).0 += 1;
    }

    pub fn attempted(&mut self, id: &str, i: usize) {
        *self.attempts.entry((id.to_owned(), i)).or_default() += 1;
    }

    pub fn dead(&mut self, id: &str, i: usize) {
        *self.dead.entry((id.to_owned(), i)).or_default() += 1;
    }

    pub fn lost(&mut self, id: &str, i: usize) {
        self.lost.insert((id.to_owned(), i));
    }

    /// An at-least-once case for `id` at destination `i` (`None`: all).
    pub fn excuse(&mut self, id: &str, i: Option<usize>) {
        self.excused.insert((id.to_owned(), i));
    }

    pub fn excused(&self, id: &str, i: usize) -> bool {
        self.excused.contains(&(id.to_owned(), Some(i)))
            || self.excused.contains(&(id.to_owned(), None))
    }

    pub fn alerts(&mut self, i: usize, change: Option<Change>) {
        if let Some(change) = change {
            self.alerts.entry(i).or_default().push(change);
        }
    }
}
