//! The Durable Object that paces one chat destination: one instance per
//! destination name, so every isolate and every queue batch asks the same
//! object, which hands out send slots in order ([`engine::delivery::pace`]).
//! Its only state is the next free time, kept in the object's storage
//! (SQLite-backed, `new_sqlite_classes` in wrangler.toml) and cached in
//! memory: an object evicted, or restarted by a deploy, while slots far off
//! are held by requeued messages would otherwise hand the same slots out
//! again and post a burst faster than the destination's pace.

use std::cell::Cell;
use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use engine::config::bindings;
use engine::delivery::pace;

/// Hands out send slots for one destination.
#[durable_object]
pub struct Pacer {
    state: State,
    /// The stored next free time, once read (`None` before the first request).
    next_free: Cell<Option<u64>>,
}

/// The storage key of the next free time.
const NEXT_FREE_KEY: &str = "next_free";

impl DurableObject for Pacer {
    fn new(state: State, _env: Env) -> Self {
        Pacer {
            state,
            next_free: Cell::new(None),
        }
    }

    /// `GET /?interval_ms=N`: the next slot, in Unix milliseconds.
    async fn fetch(&self, req: Request) -> Result<Response> {
        let interval = req
            .url()?
            .query_pairs()
            .find(|(key, _)| key == "interval_ms")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(1000);
        let storage = self.state.storage();
        // The runtime's input gate holds other requests while storage is
        // read or written, so this read-reserve-write is not interleaved.
        let stored = match self.next_free.get() {
            Some(next_free) => next_free,
            None => storage.get::<u64>(NEXT_FREE_KEY).await?.unwrap_or(0),
        };
        let now = worker::Date::now().as_millis();
        let (slot, next_free) = pace::reserve(stored, now, interval);
        self.next_free.set(Some(next_free));
        // The answer leaves only once the write is durable (output gate).
        storage.put(NEXT_FREE_KEY, next_free).await?;
        Response::ok(slot.to_string())
    }
}

/// A send slot for `destination` from its pacer, in Unix milliseconds.
pub async fn reserve(env: &Env, destination: &str, interval: Duration) -> Result<u64> {
    let stub = env
        .durable_object(bindings::PACER)?
        .id_from_name(destination)?
        .get_stub()?;
    let url = format!("https://pacer/?interval_ms={}", interval.as_millis());
    let text = stub.fetch_with_str(&url).await?.text().await?;
    text.trim()
        .parse()
        .map_err(|_| worker::Error::RustError(format!("the pacer answered `{text}`")))
}
