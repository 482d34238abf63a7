//! The rules from the aggregates' rows and the objects' views to the
//! metric families of `GET /metrics`: names, help, label sets and their
//! bounds. Cardinality is bounded by configuration: destinations are the
//! configured ones (a row of any other reads as `other`), projects the
//! watched ones plus the [`MAX_PROJECTS`] with the most events (the rest
//! read as `other`), event names the known set of
//! [`qase_webhooks::EventName`] (any other reads as `other`).
//!
//! Counters derived from D1 rows count what retention keeps: when the
//! sweep deletes expired rows the figure falls, which Prometheus reads as
//! a counter reset (its `rate` and `increase` allow for that).

use std::collections::{BTreeMap, BTreeSet};

use qase_webhooks::EventName;

use crate::alerts::watch::WatchView;
use crate::api::destinations::BreakerFacts;
use crate::config::Config;
use crate::delivery::breaker::Phase;
use crate::metrics::aggregate::{DeliveryCount, EventCount, LastRun, RunCount};
use crate::metrics::exposition::{Family, Kind};
use crate::store::layout::DeliveryStatus;

/// The label value of everything past a bound.
pub const OTHER: &str = "other";

/// Projects with their own label besides the watched ones.
pub const MAX_PROJECTS: usize = 20;

/// What one scrape read.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// [`crate::metrics::aggregate::event_counts`]' rows.
    pub events: Vec<EventCount>,
    /// [`crate::metrics::aggregate::delivery_counts`]' rows.
    pub deliveries: Vec<DeliveryCount>,
    /// [`crate::metrics::aggregate::run_counts`]' rows.
    pub runs: Vec<RunCount>,
    /// [`crate::metrics::aggregate::last_completed_runs`]' rows.
    pub last_runs: Vec<LastRun>,
    /// Each configured destination's breaker, in configuration order
    /// (`None`: the object could not be reached; it then has no breaker series).
    pub breakers: Vec<Option<BreakerFacts>>,
    /// Each watched project's view.
    pub watch: Vec<WatchView>,
}

/// Each breaker phase's label value; the match makes a new phase a
/// compile error here.
fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Active => "active",
        Phase::Paused => "paused",
        Phase::Probing => "probing",
        Phase::Draining => "draining",
    }
}

/// Every phase, in [`phase_label`]'s order.
const PHASES: [Phase; 4] = [
    Phase::Active,
    Phase::Paused,
    Phase::Probing,
    Phase::Draining,
];

/// An event name's label: its own when known, else [`OTHER`].
pub fn event_label(name: &str) -> String {
    match EventName::parse(name) {
        EventName::Unknown(_) => OTHER.to_owned(),
        known => known.as_str().to_owned(),
    }
}

/// The projects that keep their own label: the watched ones, then those
/// with the most stored events (ties by code), [`MAX_PROJECTS`] of them.
#[derive(Debug, Clone)]
pub struct Projects {
    named: BTreeSet<String>,
}

impl Projects {
    /// The choice for `config` and `figures`.
    pub fn choose(config: &Config, figures: &Figures) -> Projects {
        let mut named: BTreeSet<String> = config
            .alerts
            .watch
            .iter()
            .map(|watched| watched.project.clone())
            .collect();
        let mut by_events: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &figures.events {
            *by_events.entry(&row.project_code).or_default() += row.events;
        }
        for row in &figures.runs {
            by_events.entry(&row.project_code).or_default();
        }
        let mut ranked: Vec<(&str, u64)> = by_events.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        named.extend(
            ranked
                .into_iter()
                .take(MAX_PROJECTS)
                .map(|(p, _)| p.to_owned()),
        );
        Projects { named }
    }

    /// Whether `project` has its own label.
    pub fn has(&self, project: &str) -> bool {
        self.named.contains(project)
    }

    /// A project's label: its code, or [`OTHER`].
    pub fn label<'a>(&self, project: &'a str) -> &'a str {
        if self.has(project) {
            project
        } else {
            OTHER
        }
    }
}

/// The destination label of a row: its name when configured, else [`OTHER`].
fn destination_label<'a>(config: &Config, name: &'a str) -> &'a str {
    match config.delivery.destination(name) {
        Some(_) => name,
        None => OTHER,
    }
}

/// Sums values by their label values, so that what folds into `other`
/// adds up instead of repeating a series.
#[derive(Debug, Default)]
struct Sums<const N: usize>(BTreeMap<[String; N], f64>);

impl<const N: usize> Sums<N> {
    fn add(&mut self, labels: [&str; N], value: f64) {
        *self.0.entry(labels.map(str::to_owned)).or_default() += value;
    }

    fn into_family(self, family: &mut Family, names: [&'static str; N]) {
        for (values, value) in self.0 {
            let labels: Vec<(&'static str, &str)> = names
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            family.sample(&labels, value);
        }
    }
}

/// Every family of one scrape, in a fixed order.
pub fn families(config: &Config, figures: &Figures) -> Vec<Family> {
    let projects = Projects::choose(config, figures);
    let mut families = Vec::from(event_families(&projects, figures));
    families.extend(delivery_families(config, figures));
    families.extend(breaker_families(config, figures));
    families.push(quiet_family(figures));
    families.extend(run_families(&projects, figures));
    families
}

fn event_families(projects: &Projects, figures: &Figures) -> [Family; 2] {
    let mut events = Family::new(
        "qase_edge_events_total",
        "Stored events (first copies) by project, event name and outcome, of those retention keeps.",
        Kind::Counter,
    );
    let mut duplicates = Family::new(
        "qase_edge_duplicates_total",
        "Copies of stored events received after the first, of the events retention keeps.",
        Kind::Counter,
    );
    let mut sums = Sums::default();
    let mut copies = 0;
    for row in &figures.events {
        let event = event_label(&row.event_name);
        let project = projects.label(&row.project_code);
        sums.add([project, &event, row.outcome.as_str()], row.events as f64);
        copies += row.duplicates.unwrap_or(0);
    }
    sums.into_family(&mut events, ["project", "event", "outcome"]);
    duplicates.sample(&[], copies as f64);
    [events, duplicates]
}

/// Deliveries by state (a gauge: a retrying row becomes delivered or
/// dead), attempts, retries and dead letters by destination.
fn delivery_families(config: &Config, figures: &Figures) -> [Family; 4] {
    let mut states = Sums::default();
    let mut attempts = Sums::default();
    let mut retries = Sums::default();
    let mut dead = Sums::default();
    // Every configured destination has every series, zeros included, so
    // that `increase` sees the first one.
    for destination in &config.delivery.destinations {
        let name = destination.name.as_str();
        for status in DeliveryStatus::ALL {
            states.add([name, status.as_str()], 0.0);
        }
        attempts.add([name], 0.0);
        retries.add([name], 0.0);
        dead.add([name], 0.0);
    }
    for row in &figures.deliveries {
        let name = destination_label(config, &row.destination);
        states.add([name, row.status.as_str()], row.deliveries as f64);
        attempts.add([name], row.attempts.unwrap_or(0) as f64);
        retries.add([name], row.retries.unwrap_or(0) as f64);
        if row.status == DeliveryStatus::Dead {
            dead.add([name], row.deliveries as f64);
        }
    }
    let mut families = [
        Family::new(
            "qase_edge_deliveries",
            "Deliveries by destination and current state, of those retention keeps.",
            Kind::Gauge,
        ),
        Family::new(
            "qase_edge_delivery_attempts_total",
            "Delivery attempts by destination, of the deliveries retention keeps.",
            Kind::Counter,
        ),
        Family::new(
            "qase_edge_delivery_retries_total",
            "Delivery attempts after each delivery's first, by destination, of the deliveries retention keeps.",
            Kind::Counter,
        ),
        Family::new(
            "qase_edge_dead_letters_total",
            "Dead letters by destination, of those retention keeps (a replay takes one out).",
            Kind::Counter,
        ),
    ];
    states.into_family(&mut families[0], ["destination", "state"]);
    attempts.into_family(&mut families[1], ["destination"]);
    retries.into_family(&mut families[2], ["destination"]);
    dead.into_family(&mut families[3], ["destination"]);
    families
}

fn breaker_families(config: &Config, figures: &Figures) -> [Family; 2] {
    let mut state = Family::new(
        "qase_edge_breaker_state",
        "1 for the state each destination's breaker is in, 0 for the others (no series: its object did not answer).",
        Kind::Gauge,
    );
    let mut held = Family::new(
        "qase_edge_held_events",
        "Events each destination's breaker holds while it is paused.",
        Kind::Gauge,
    );
    for (destination, facts) in config.delivery.destinations.iter().zip(&figures.breakers) {
        let Some(facts) = facts else { continue };
        let name = destination.name.as_str();
        if let Some(phase) = facts.state {
            for each in PHASES {
                let on = if each == phase { 1.0 } else { 0.0 };
                state.sample(&[("destination", name), ("state", phase_label(each))], on);
            }
        }
        held.sample(&[("destination", name)], facts.held as f64);
    }
    [state, held]
}

fn quiet_family(figures: &Figures) -> Family {
    let mut quiet = Family::new(
        "qase_edge_project_quiet",
        "1 when a watched project (QASE_WATCH) has been silent past its window: its webhook may be disabled.",
        Kind::Gauge,
    );
    for view in &figures.watch {
        let value = if view.quiet { 1.0 } else { 0.0 };
        quiet.sample(&[("project", &view.project)], value);
    }
    quiet
}

fn run_families(projects: &Projects, figures: &Figures) -> [Family; 3] {
    let mut in_progress = Sums::default();
    let mut finished = Sums::default();
    for row in &figures.runs {
        let project = projects.label(&row.project_code);
        if row.status.is_final() {
            finished.add([project, row.status.as_str()], row.runs as f64);
        } else {
            in_progress.add([project], row.runs as f64);
        }
    }
    let mut families = [
        Family::new(
            "qase_edge_runs_in_progress",
            "Test runs not ended yet (started, or with results but no start), by project.",
            Kind::Gauge,
        ),
        Family::new(
            "qase_edge_runs_finished_total",
            "Test runs ended, by project and status (completed or aborted), of those retention keeps.",
            Kind::Counter,
        ),
        Family::new(
            "qase_edge_run_pass_ratio",
            "Passed cases over all cases (0 to 1) of each project's completed run with the latest event.",
            Kind::Gauge,
        ),
    ];
    in_progress.into_family(&mut families[0], ["project"]);
    finished.into_family(&mut families[1], ["project", "status"]);
    for row in &figures.last_runs {
        if let (true, Some(ratio)) = (projects.has(&row.project_code), row.pass_ratio()) {
            families[2].sample(&[("project", &row.project_code)], ratio);
        }
    }
    families
}
