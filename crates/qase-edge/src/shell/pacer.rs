//! The Durable Object that paces one chat destination: one instance per
//! destination name, so every isolate and every queue batch asks the same
//! object, which hands out send slots in order ([`crate::engine::pace`]).
//! Its only state is the next free time, kept in memory: an object is
//! evicted only after a quiet spell, when there is nothing left to pace.

use std::cell::Cell;
use std::time::Duration;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::engine::{bindings, pace};

/// Hands out send slots for one destination.
#[durable_object]
pub struct Pacer {
    next_free: Cell<u64>,
}

impl DurableObject for Pacer {
    fn new(_state: State, _env: Env) -> Self {
        Pacer {
            next_free: Cell::new(0),
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
        let now = worker::Date::now().as_millis();
        let (slot, next_free) = pace::reserve(self.next_free.get(), now, interval);
        self.next_free.set(next_free);
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
