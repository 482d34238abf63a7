//! The Durable Object that watches one Qase test run (`RunWatch`, binding
//! `QASE_RUN_WATCH`, one object per project and run: `id_from_name("WEB/42")`).
//!
//! Why an object per run: the run's events reach several queue consumers at
//! once, and a CI gate must hear of the run's end the moment it is applied.
//! The object runs one request at a time around its storage (the input
//! gate), so read-apply-write of the state is never interleaved, and a gate
//! waiting in it (a [`RunWatchCall::Wait`]) holds an in-memory signal that
//! the request applying the run's end fires: no storage is polled, and
//! nothing is written while a gate waits. The rules are [`engine::runs::state`].
//!
//! Storage: `state` (the [`RunState`] as JSON text) and `seen/{event id}` per
//! event applied, so a duplicate changes nothing. After every apply the
//! object writes the state into D1 `runs` with a version guard (an
//! unchanged state writes no row); when D1 fails, its alarm writes it again
//! a minute later, until it succeeds, and nothing waits for it.
//!
//! Its calls are [`RunWatchCall`]s, one JSON body each (`POST`, through the
//! stub, never exposed; a body that is not one answers 400): `apply` (a
//! [`RunFact`]; answers [`ApplyAnswer`]), `state` and `wait` (with
//! `timeout_ms`; both answer the [`RunState`]) and `take` (the report, once
//! per run; answers [`TakeAnswer`]). Every call but `apply` names its run's
//! key, so that a run no event has reached is answered empty.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use engine::delivery::github::record::{self, GithubAnswer, GithubChange, GithubRecord};
use engine::runs::state::Fetched;
use futures_util::future::{select, Either};
use serde::de::DeserializeOwned;
use worker::{
    durable_object, Date, Delay, DurableObject, Env, Method, Request, RequestInit, Response,
    Result, State,
};

use crate::config;
use crate::store::db;
use engine::config::bindings;
use engine::runs::alarm;
use engine::runs::alarm::AlarmStep;
use engine::runs::object::{ApplyAnswer, RunWatchCall, TakeAnswer};
use engine::runs::report::RunKey;
use engine::runs::sql;
use engine::runs::state::{self, Applied, RunFact, RunState};

/// The storage key of the state.
const STATE_KEY: &str = "state";
/// Set while the state's last write into D1 failed (the alarm retries it).
const MIRROR_PENDING_KEY: &str = "mirror_pending";
/// When the object forgets the run (Unix ms), once the alarm is set for it.
const FORGET_AT_KEY: &str = "forget_at";

/// Watches one run.
#[durable_object]
pub struct RunWatch {
    state: State,
    env: Env,
    /// The stored state, once read.
    cached: RefCell<Option<RunState>>,
    /// The gates waiting for the run's end.
    waiters: RefCell<Vec<Rc<Signal>>>,
}

impl DurableObject for RunWatch {
    fn new(state: State, env: Env) -> Self {
        RunWatch {
            state,
            env,
            cached: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Read with serde_json, as the state is: one JSON decoder in the bundle.
        let call = match serde_json::from_str::<RunWatchCall>(&req.text().await?) {
            Ok(call) => call,
            Err(error) => return Response::error(format!("not a run watch call: {error}"), 400),
        };
        match call {
            RunWatchCall::Apply { fact } => Response::from_json(&self.apply(fact).await?),
            RunWatchCall::State { key } => Response::from_json(&self.load(&key).await?),
            RunWatchCall::Wait { key, timeout_ms } => {
                Response::from_json(&self.wait(&key, timeout_ms).await?)
            }
            RunWatchCall::Take {
                key,
                message_id,
                fetched,
            } => Response::from_json(&self.take(&key, &message_id, fetched).await?),
            RunWatchCall::Github {
                key,
                destination,
                change,
            } => Response::from_json(&self.github(&key, &destination, &change).await?),
        }
    }

    /// A D1 write to retry, or the retention has passed: the run is
    /// forgotten (its D1 row is deleted by the sweep on the same retention).
    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let pending = storage.get::<bool>(MIRROR_PENDING_KEY).await?.is_some();
        let forget_at = storage.get::<u64>(FORGET_AT_KEY).await?;
        match alarm::alarm_step(pending, forget_at, Date::now().as_millis()) {
            AlarmStep::RetryMirror => {
                if let Some(state) = self.stored().await? {
                    self.mirror(&state).await;
                } else {
                    storage.delete(MIRROR_PENDING_KEY).await?;
                }
            }
            AlarmStep::Forget => {
                storage.delete_all().await?;
                self.cached.replace(None);
            }
            AlarmStep::Rearm(at) => storage.set_alarm(at as i64).await?,
            AlarmStep::Nothing => {}
        }
        Response::ok("done")
    }
}

impl RunWatch {
    /// The state: cached, stored, or a run no event has reached.
    async fn load(&self, key: &RunKey) -> Result<RunState> {
        Ok(self
            .stored()
            .await?
            .unwrap_or_else(|| state::empty(&key.project, key.run)))
    }

    async fn stored(&self) -> Result<Option<RunState>> {
        if let Some(state) = self.cached.borrow().clone() {
            return Ok(Some(state));
        }
        // Kept as JSON text: one (serde_json) decoder for the state in the
        // bundle, rather than a second one for JavaScript values.
        let stored = match self.state.storage().get::<String>(STATE_KEY).await? {
            Some(json) => Some(serde_json::from_str::<RunState>(&json)?),
            None => None,
        };
        self.cached.replace(stored.clone());
        Ok(stored)
    }

    async fn store(&self, state: &RunState) -> Result<()> {
        self.state
            .storage()
            .put(STATE_KEY, serde_json::to_string(state)?)
            .await?;
        self.cached.replace(Some(state.clone()));
        Ok(())
    }

    /// Writes the state into D1 `runs` (a version D1 already has writes
    /// nothing). Best effort: when D1 fails, the alarm retries it
    /// ([`alarm::MIRROR_RETRY_MS`]), so that D1 being down holds up
    /// neither the run's events nor their delivery. `true` when written.
    async fn mirror(&self, state: &RunState) -> bool {
        let statement = sql::upsert(state, Date::now().as_millis());
        let written = match db::database(&self.env) {
            Ok(database) => db::changes(&database, &statement, None).await.map(|_| ()),
            Err(error) => Err(error),
        };
        let storage = self.state.storage();
        match written {
            Ok(()) => {
                if storage
                    .get::<bool>(MIRROR_PENDING_KEY)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    let _ = storage.delete(MIRROR_PENDING_KEY).await;
                    self.set_alarm_for_forgetting().await;
                }
                true
            }
            Err(error) => {
                worker::console_warn!(
                    "run {}/{} not written into D1, retried by the alarm: {error}",
                    state.project,
                    state.run
                );
                let retry = Date::now().as_millis() + alarm::MIRROR_RETRY_MS;
                let _ = storage.put(MIRROR_PENDING_KEY, true).await;
                let _ = storage.set_alarm(retry as i64).await;
                false
            }
        }
    }

    /// Sets the alarm to the stored forgetting time, if any.
    async fn set_alarm_for_forgetting(&self) {
        let storage = self.state.storage();
        if let Ok(Some(at)) = storage.get::<u64>(FORGET_AT_KEY).await {
            let _ = storage.set_alarm(at as i64).await;
        }
    }

    async fn apply(&self, fact: RunFact) -> Result<ApplyAnswer> {
        let seen_key = Applied::seen_key(&fact.event_id);
        let seen = self.state.storage().get::<bool>(&seen_key).await?.is_some();
        let applied = state::apply(self.stored().await?, &fact, seen);
        if applied.changed {
            self.store(&applied.state).await?;
            self.state.storage().put(&seen_key, true).await?;
        }
        if applied.ended_now || (applied.changed && applied.state.version == 1) {
            self.arm_forgetting().await;
        }
        if applied.ended_now {
            // Before the mirror: a gate must not wait for D1.
            for waiter in self.waiters.borrow_mut().drain(..) {
                waiter.fire();
            }
        }
        self.mirror(&applied.state).await;
        Ok(ApplyAnswer {
            state: applied.state,
            ended_now: applied.ended_now,
        })
    }

    /// Sets the alarm that forgets the run after the retention (at its first
    /// event, and again at its end). Best effort: a run not forgotten only
    /// keeps its few keys.
    async fn arm_forgetting(&self) {
        let Ok(config) = config::load(&self.env) else {
            return;
        };
        let Some(at) = alarm::forget_at(&config.store, Date::now().as_millis()) else {
            return;
        };
        let storage = self.state.storage();
        let stored = storage.put(FORGET_AT_KEY, at).await;
        // A pending D1 write keeps the alarm for its retry; it sets the
        // forgetting time once it succeeds.
        let pending = storage.get::<bool>(MIRROR_PENDING_KEY).await.ok().flatten();
        if stored.is_ok() && pending.is_none() {
            if let Err(error) = storage.set_alarm(at as i64).await {
                worker::console_warn!("the run's retention alarm was not set: {error}");
            }
        }
    }

    async fn wait(&self, key: &RunKey, timeout_ms: u64) -> Result<RunState> {
        let state = self.load(key).await?;
        if state.status.is_final() || timeout_ms == 0 {
            return Ok(state);
        }
        let signal = Rc::new(Signal::default());
        self.waiters.borrow_mut().push(Rc::clone(&signal));
        let woken = Fired(Rc::clone(&signal));
        let timer = Delay::from(Duration::from_millis(timeout_ms));
        if let Either::Right(_) = select(woken, timer).await {
            self.waiters
                .borrow_mut()
                .retain(|waiter| !Rc::ptr_eq(waiter, &signal));
        }
        self.load(key).await
    }

    /// A take: the taken state is stored when it changed, and mirrored.
    async fn take(&self, key: &RunKey, message_id: &str, fetched: Fetched) -> Result<TakeAnswer> {
        let state = self.load(key).await?;
        let answer = TakeAnswer::of(&state, message_id, fetched);
        if let TakeAnswer::Taken { state: taken } = &answer {
            if **taken != state {
                self.store(taken).await?;
            }
            self.mirror(taken).await;
        }
        Ok(answer)
    }
}

impl RunWatch {
    /// A GitHub destination's record, changed as [`record::change`] says
    /// (stored when it changed), with the run's state. One request at a
    /// time: two deliveries' reservations are never interleaved.
    async fn github(
        &self,
        key: &RunKey,
        destination: &str,
        change: &GithubChange,
    ) -> Result<GithubAnswer> {
        let storage = self.state.storage();
        let storage_key = record::storage_key(destination);
        let stored = match storage.get::<String>(&storage_key).await? {
            Some(json) => serde_json::from_str::<GithubRecord>(&json)?,
            None => GithubRecord::default(),
        };
        let (changed, granted) = record::change(stored.clone(), change);
        if changed != stored {
            storage
                .put(&storage_key, serde_json::to_string(&changed)?)
                .await?;
        }
        Ok(GithubAnswer {
            state: self.load(key).await?,
            record: changed,
            granted,
        })
    }
}

/// A one-shot signal: fired once by the request that ends the run.
#[derive(Default)]
struct Signal {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.fired.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// Resolves when its signal fires.
struct Fired(Rc<Signal>);

impl Future for Fired {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.get() {
            return Poll::Ready(());
        }
        self.0.waker.replace(Some(cx.waker().clone()));
        Poll::Pending
    }
}

// ---- The Worker's side: calls to a run's object through its stub ----

/// Sends `call` to the object of the run it names; its answer.
async fn call<T: DeserializeOwned>(env: &Env, call: &RunWatchCall) -> Result<T> {
    let key = call.key();
    let stub = env
        .durable_object(bindings::RUN_WATCH)?
        .id_from_name(&state::object_name(&key.project, key.run))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(call)?.into()));
    let request = Request::new_with_init("https://run-watch/", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    match response.status_code() {
        200 => response.json().await,
        status => Err(worker::Error::RustError(format!(
            "the object of run {}/{} answered {status}: {}",
            key.project,
            key.run,
            response.text().await.unwrap_or_default()
        ))),
    }
}

/// Applies an event to its run.
pub async fn apply(env: &Env, fact: &RunFact) -> Result<ApplyAnswer> {
    let apply = RunWatchCall::Apply { fact: fact.clone() };
    call(env, &apply).await
}

/// A run's state as its object holds it.
pub async fn state(env: &Env, key: &RunKey) -> Result<RunState> {
    call(env, &RunWatchCall::State { key: key.clone() }).await
}

/// A run's state once it has ended, or after `timeout_seconds`.
pub async fn wait(env: &Env, key: &RunKey, timeout_seconds: u64) -> Result<RunState> {
    let wait = RunWatchCall::Wait {
        key: key.clone(),
        timeout_ms: timeout_seconds.saturating_mul(1000),
    };
    call(env, &wait).await
}

/// Reads or changes the record of one of a run's GitHub destinations.
pub async fn github(
    env: &Env,
    key: &RunKey,
    destination: &str,
    change: GithubChange,
) -> Result<GithubAnswer> {
    let call = RunWatchCall::Github {
        key: key.clone(),
        destination: destination.to_owned(),
        change,
    };
    self::call(env, &call).await
}

/// Takes a run's report for the queue message `message_id`: the state to
/// report, or `None` when another message took it (or the run has not ended).
pub async fn take(
    env: &Env,
    key: &RunKey,
    message_id: &str,
    fetched: Fetched,
) -> Result<Option<RunState>> {
    let take = RunWatchCall::Take {
        key: key.clone(),
        message_id: message_id.to_owned(),
        fetched,
    };
    match call(env, &take).await? {
        TakeAnswer::Taken { state } => Ok(Some(*state)),
        TakeAnswer::Refused => Ok(None),
    }
}
