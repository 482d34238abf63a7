//! The Durable Object that paces one chat destination: one instance per
//! destination name, so every isolate and every queue batch asks the same
//! object, which hands out send slots in order ([`engine::delivery::pace`]).
//! Its only state is the next free time, kept in the object's storage
//! (SQLite-backed, `new_sqlite_classes` in wrangler.toml) and cached in
//! memory: an object evicted, or restarted by a deploy, while slots far off
//! are held by requeued messages would otherwise hand the same slots out
//! again and post a burst faster than the destination's pace.
//!
//! Its calls are [`PacerCall`]s, one JSON body each (`POST`, through the
//! stub, never exposed; a body that is not one answers 400); a reserve
//! answers [`ReserveAnswer`].

use std::cell::Cell;
use std::time::Duration;

use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use engine::config::bindings;
use engine::delivery::pace::{self, PacerCall, ReserveAnswer};

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

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call = match serde_json::from_str::<PacerCall>(&req.text().await?) {
            Ok(call) => call,
            Err(error) => return Response::error(format!("not a pacer call: {error}"), 400),
        };
        match call {
            PacerCall::Reserve { interval_ms } => {
                Response::from_json(&self.reserve(interval_ms).await?)
            }
        }
    }
}

impl Pacer {
    /// The next slot, and the next free time after it stored.
    async fn reserve(&self, interval: u64) -> Result<ReserveAnswer> {
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
        Ok(ReserveAnswer { slot })
    }
}

/// A send slot for `destination` from its pacer, in Unix milliseconds.
pub async fn reserve(env: &Env, destination: &str, interval: Duration) -> Result<u64> {
    let stub = env
        .durable_object(bindings::PACER)?
        .id_from_name(destination)?
        .get_stub()?;
    let call = PacerCall::Reserve {
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
    };
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(&call)?.into()));
    let request = Request::new_with_init("https://pacer/", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    match response.status_code() {
        200 => Ok(response.json::<ReserveAnswer>().await?.slot),
        status => Err(worker::Error::RustError(format!(
            "the pacer of `{destination}` answered {status}: {}",
            response.text().await.unwrap_or_default()
        ))),
    }
}
