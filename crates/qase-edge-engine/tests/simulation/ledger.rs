//! What the simulation saw happen, for the invariants: what each
//! destination took and when, attempts, dead letters, logged losses,
//! alerts raised and posted, the duplicates the README allows, and
//! violations seen on the way.

use std::collections::{HashMap, HashSet};

use qase_edge_engine::delivery::breaker::Change;
use qase_edge_engine::delivery::messages::QueuedAlert;

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
    /// Dead letters sent to the dead-letter queue.
    pub dead_sent: HashSet<(String, usize)>,
    /// Alerts raised, by subject (the destination).
    pub raised: HashMap<String, u32>,
    /// Attempts of each alert message ([`alert_key`]), and those the
    /// platform delivered again.
    pub alert_attempts: HashMap<String, u32>,
    pub alerts_excused: HashSet<String>,
    /// Requests to Qase's API, and how many got a fault.
    pub fetches: (u32, u32),
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

/// An alert message's identity, whatever its attempts and slot.
pub fn alert_key(alert: &QueuedAlert) -> String {
    format!("{} {} {:?}", alert.alert_to, alert.at, alert.alert)
}

impl Ledger {
    pub fn dead_sent(&mut self, id: &str, i: usize) {
        self.dead_sent.insert((id.to_owned(), i));
    }

    pub fn raised(&mut self, subject: &str) {
        *self.raised.entry(subject.to_owned()).or_default() += 1;
    }

    pub fn alert_attempted(&mut self, alert: &QueuedAlert) {
        *self.alert_attempts.entry(alert_key(alert)).or_default() += 1;
    }

    /// The platform delivered an alert message again: it may be posted again.
    pub fn excuse_alert(&mut self, alert: &QueuedAlert) {
        self.alerts_excused.insert(alert_key(alert));
    }
}
