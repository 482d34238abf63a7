//! The store settings: which sinks accepted deliveries are written to
//! (`QASE_SINKS`, and which bindings exist), how long what is stored is
//! kept (`QASE_RETENTION_SECONDS`), and when the sweep sends an event not
//! yet forwarded again (`QASE_REDRIVE_AFTER_SECONDS`). Read and validated
//! here; composed into [`crate::config::Config`].

use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};
use crate::store::d1::D1_BODY_LIMIT;
use crate::text::text_form;

/// Default retention: 30 days.
pub const DEFAULT_RETENTION_SECONDS: u64 = 30 * 86_400;
/// Default of `QASE_REDRIVE_AFTER_SECONDS`: far above the queue's usual
/// delay, so that the sweep rarely sends what is only slow (harmless when it
/// does: the consumer's claim forwards one of the two).
pub const DEFAULT_REDRIVE_AFTER_SECONDS: u64 = 300;

/// Where accepted deliveries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sink {
    /// The D1 event store, binding `QASE_DB` (see [`crate::store::d1`]).
    D1,
    /// Workers KV, binding `QASE_EVENTS`: the raw bytes, one key per event.
    Kv,
    /// Cloudflare Queues, binding `QASE_DELIVERIES`.
    Queue,
}

// The name used in `QASE_SINKS` and `QASE_ROUTES`; `ALL` is in write order.
text_form!(Sink {
    D1 => "d1",
    Kv => "kv",
    Queue => "queue",
});

impl Sink {
    /// The binding this sink writes through.
    pub fn binding(self) -> &'static str {
        match self {
            Sink::D1 => bindings::DB,
            Sink::Kv => bindings::EVENTS_KV,
            Sink::Queue => bindings::DELIVERIES_QUEUE,
        }
    }
}

/// What the stores need to know.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The sinks in use, in write order.
    pub sinks: Vec<Sink>,
    /// Whether KV is bound, in use as a sink or not: it holds what a failed
    /// D1 or queue write left behind (`rescue/{id}`) and bodies too large
    /// for a D1 row.
    pub kv_bound: bool,
    /// TTL of stored events, dead letters and delivery states, in seconds.
    pub retention_seconds: Option<u64>,
    /// How old a `pending` row must be before the sweep sends it to the
    /// queue again (`QASE_REDRIVE_AFTER_SECONDS`).
    pub redrive_after_seconds: u64,
}

impl StoreSettings {
    /// Whether `sink` is in use.
    pub fn has_sink(&self, sink: Sink) -> bool {
        self.sinks.contains(&sink)
    }
}

/// `QASE_SINKS` (see `sinks_setting`), and a check that bodies of up to
/// `max_body_bytes` have somewhere to go.
pub fn sinks(
    lookup: &Lookup,
    bound: &[Sink],
    max_body_bytes: usize,
) -> Result<Vec<Sink>, ConfigError> {
    let sinks = sinks_setting(lookup, bound)?;
    if sinks.contains(&Sink::D1) && max_body_bytes > D1_BODY_LIMIT && !bound.contains(&Sink::Kv) {
        return Err(invalid(
            bindings::MAX_BODY_BYTES,
            format!(
                "bodies over {D1_BODY_LIMIT} bytes do not fit a D1 row and are kept in KV: bind QASE_EVENTS or lower it",
            ),
        ));
    }
    Ok(sinks)
}

/// `QASE_SINKS`: by default D1 and the queue when D1 is bound (KV only when
/// asked for: it costs a write per event and D1 holds the bytes), else every
/// bound sink; each named one must be bound.
fn sinks_setting(lookup: &Lookup, bound: &[Sink]) -> Result<Vec<Sink>, ConfigError> {
    let mut sinks = Vec::new();
    match lookup.get(bindings::SINKS) {
        None if bound.contains(&Sink::D1) => {
            sinks.extend(bound.iter().filter(|sink| **sink != Sink::Kv));
        }
        None => sinks.extend_from_slice(bound),
        Some(list) => {
            for name in list.split(',').map(str::trim) {
                let sink = Sink::parse(name).ok_or_else(|| {
                    invalid(
                        bindings::SINKS,
                        format!("unknown sink `{name}` (known: {})", Sink::NAMES.join(", ")),
                    )
                })?;
                if !bound.contains(&sink) {
                    let problem = format!("sink `{name}` has no binding in wrangler.toml");
                    return Err(invalid(bindings::SINKS, problem));
                }
                if !sinks.contains(&sink) {
                    sinks.push(sink);
                }
            }
            sinks.sort();
        }
    }
    if sinks.is_empty() {
        return Err(invalid(
            bindings::SINKS,
            "no sink: bind QASE_DB (D1), QASE_EVENTS (KV) or QASE_DELIVERIES (queue) in wrangler.toml",
        ));
    }
    Ok(sinks)
}

/// `QASE_RETENTION_SECONDS`: 30 days by default, `0` keeps everything.
pub fn retention(lookup: &Lookup) -> Result<Option<u64>, ConfigError> {
    lookup.ttl(
        bindings::RETENTION_SECONDS,
        DEFAULT_RETENTION_SECONDS,
        "keep",
    )
}

/// `QASE_REDRIVE_AFTER_SECONDS`: up to a day.
pub fn redrive_after(lookup: &Lookup) -> Result<u64, ConfigError> {
    lookup.number(
        bindings::REDRIVE_AFTER_SECONDS,
        DEFAULT_REDRIVE_AFTER_SECONDS,
        (0, 86_400),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::config;
    use crate::config::Config;

    #[test]
    fn sinks_default_to_d1_and_the_queue_and_must_be_bound() {
        // KV costs a write per event and D1 holds the bytes: KV only when asked.
        assert_eq!(config(&[]).unwrap().store.sinks, [Sink::D1, Sink::Queue]);
        let without_d1 = Config::from_lookup(|_| None, &[Sink::Kv, Sink::Queue]);
        assert_eq!(without_d1.unwrap().store.sinks, [Sink::Kv, Sink::Queue]);
        assert_eq!(
            config(&[(bindings::SINKS, "kv, d1 ,queue")])
                .unwrap()
                .store
                .sinks,
            [Sink::D1, Sink::Kv, Sink::Queue]
        );
        // Bodies too large for a D1 row go to KV, which must then be bound.
        let large = |bound: &[Sink]| {
            Config::from_lookup(
                |key| (key == bindings::MAX_BODY_BYTES).then(|| "5000000".to_owned()),
                bound,
            )
        };
        assert!(large(&Sink::ALL).is_ok());
        let error = large(&[Sink::D1, Sink::Queue]).unwrap_err();
        assert_eq!(error.key, bindings::MAX_BODY_BYTES, "{error}");
        assert_eq!(
            config(&[(bindings::SINKS, "queue")])
                .map_err(|e| e.key)
                .unwrap_err(),
            bindings::PAYLOAD_POLICY,
            "queue alone cannot quarantine"
        );
        let queue_only = config(&[
            (bindings::SINKS, "queue"),
            (bindings::PAYLOAD_POLICY, "reject"),
            (bindings::DEDUPE_SECONDS, "0"),
        ])
        .unwrap();
        assert_eq!(queue_only.store.sinks, [Sink::Queue]);
        let kv_bound_only = Config::from_lookup(
            |key| (key == bindings::SINKS).then(|| "kv,queue".to_owned()),
            &[Sink::Kv],
        )
        .unwrap_err();
        assert!(
            kv_bound_only.problem.contains("no binding"),
            "{kv_bound_only}"
        );
        assert!(Config::from_lookup(|_| None, &[]).is_err());
    }
}
