//! The Durable Object that keeps one destination's breaker (issue #19):
//! one instance per destination name, so every isolate and queue batch
//! asks and reports to the same object, which changes state once (one
//! pause, one resume) and keeps the held events in its storage under keys
//! that sort by arrival ([`breaker::held_key`]). The rules are
//! [`engine::delivery::breaker`]'s; this object stores, releases and wakes.
//!
//! Its calls are [`BreakerCall`]s, one JSON body each (`POST`, through the
//! stub, never exposed); the answers are [`AskAnswer`], [`AlertAnswer`]
//! (the alert to send, rate-limited per kind) and [`BreakerView`].

use std::cell::RefCell;

use qase_webhooks::chat::Alert;
use serde::de::DeserializeOwned;
use worker::{
    durable_object, DurableObject, Env, ListOptions, Method, Request, RequestInit, Response,
    Result, State,
};

use crate::config;
use crate::store::queue;
use engine::config::bindings;
use engine::delivery::breaker::object::{self, AlertAnswer, AskAnswer, BreakerCall, BreakerView};
use engine::delivery::breaker::{self, BreakerSettings, BreakerState, Decision, Outcome, Step};
use engine::delivery::messages::QueuedDelivery;
use engine::delivery::queue::QueueMessage;

/// Storage keys.
const STATE_KEY: &str = "state";
const NAME_KEY: &str = "name";

/// One destination's breaker.
#[durable_object]
pub struct Breaker {
    state: State,
    env: Env,
    cached: RefCell<Option<BreakerState>>,
    /// Held for each request and alarm from its first read of the state to
    /// its last write: the runtime's input gate only holds other requests
    /// during storage calls, and a request also waits on its body and on
    /// the queue, where another one would read the same state and both
    /// would pause (two alerts) or count one held event each (one lost).
    turn: futures_util::lock::Mutex<()>,
}

impl Breaker {
    async fn load(&self) -> Result<BreakerState> {
        if let Some(state) = self.cached.borrow().clone() {
            return Ok(state);
        }
        let stored = self
            .state
            .storage()
            .get::<BreakerState>(STATE_KEY)
            .await?
            .unwrap_or_default();
        Ok(stored)
    }

    async fn save(&self, state: &BreakerState) -> Result<()> {
        *self.cached.borrow_mut() = Some(state.clone());
        self.state.storage().put(STATE_KEY, state).await
    }

    async fn remember_name(&self, name: &str) -> Result<()> {
        if self
            .state
            .storage()
            .get::<String>(NAME_KEY)
            .await?
            .as_deref()
            != Some(name)
        {
            self.state.storage().put(NAME_KEY, name).await?;
        }
        Ok(())
    }

    /// Carries out a step, then saves the state; the alert to send.
    async fn carry_out(
        &self,
        state: &mut BreakerState,
        step: Step,
        name: &str,
        by_operator: bool,
        now: u64,
    ) -> Result<Option<Alert>> {
        let storage = self.state.storage();
        if let Some(key) = &step.forget {
            let existed = storage.delete(key).await?;
            object::forgotten(state, &step, existed);
        }
        if step.release_oldest {
            self.release_oldest(state, now).await?;
        }
        if let Some(at) = step.wake_at {
            storage
                .set_alarm(at.saturating_sub(now).max(1) as i64)
                .await?;
        }
        let interval = config::load(&self.env)
            .as_ref()
            .map_or(0, |config| config.alerts.interval_ms);
        let alert = object::alert_for(state, &step, name, by_operator, interval, now);
        self.save(state).await?;
        Ok(alert)
    }

    /// Sends the oldest held event to the queue, marked released.
    async fn release_oldest(&self, state: &mut BreakerState, now: u64) -> Result<()> {
        let storage = self.state.storage();
        let page = storage
            .list_with_options(ListOptions::new().prefix(breaker::HELD_PREFIX).limit(1))
            .await?;
        let Some(entry) = page.entries().into_iter().next() else {
            object::nothing_held(state);
            return Ok(());
        };
        let entry: js_sys::Array = entry?.into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let json = entry.get(1).as_string().unwrap_or_default();
        let held: QueuedDelivery = serde_json::from_str(&json)?;
        let message = QueueMessage::Delivery(object::release_message(&key, held));
        if let Err(error) = queue::send(&self.env, bindings::DELIVERIES_QUEUE, &message, 0).await {
            // The alarm releases it again after the timeout.
            worker::console_error!("breaker: the release of {key} failed: {error}");
        }
        breaker::released(state, &key, now);
        Ok(())
    }

    /// A hold: kept (stored under its [`breaker::held_key`], counted once
    /// however often it is held), unless the object resumed since the ask.
    async fn answer_hold(
        &self,
        state: &mut BreakerState,
        settings: &BreakerSettings,
        name: &str,
        delivery: QueuedDelivery,
        now: u64,
    ) -> Result<AskAnswer> {
        let answer = AskAnswer::of(state, settings);
        if answer.decision == Decision::Held {
            self.remember_name(name).await?;
            let new = self.hold(delivery).await?;
            let step = breaker::held(state, new, now);
            self.carry_out(state, step, name, false, now).await?;
        }
        Ok(answer)
    }

    /// Stores a held event, unless it is already; `true` when it was not.
    async fn hold(&self, delivery: QueuedDelivery) -> Result<bool> {
        let key = breaker::held_key(delivery.received_at, &delivery.id);
        let storage = self.state.storage();
        let new = storage.get::<String>(&key).await?.is_none();
        if new {
            let held = object::held_message(delivery);
            storage.put(&key, serde_json::to_string(&held)?).await?;
        }
        Ok(new)
    }

    /// An attempt's outcome, or an operator's command: the step it makes,
    /// carried out; the alert to send.
    async fn answer_step(
        &self,
        state: &mut BreakerState,
        name: &str,
        step: Step,
        by_operator: bool,
        now: u64,
    ) -> Result<AlertAnswer> {
        self.remember_name(name).await?;
        let alert = self.carry_out(state, step, name, by_operator, now).await?;
        Ok(AlertAnswer { alert })
    }

    /// Answers one call, with the state loaded.
    async fn answer(
        &self,
        state: &mut BreakerState,
        settings: &BreakerSettings,
        call: BreakerCall,
        now: u64,
    ) -> Result<Response> {
        match call {
            BreakerCall::Ask { .. } => Response::from_json(&AskAnswer::of(state, settings)),
            BreakerCall::Hold { name, delivery } => {
                let answer = self.answer_hold(state, settings, &name, delivery, now);
                Response::from_json(&answer.await?)
            }
            BreakerCall::Report {
                name,
                released,
                outcome,
                error,
            } => {
                let (released, error) = (released.as_deref(), error.as_deref());
                let step = breaker::report(state, settings, released, outcome, error, now);
                let answer = self.answer_step(state, &name, step, false, now);
                Response::from_json(&answer.await?)
            }
            BreakerCall::Pause { name } => {
                let step = breaker::operator_pause(state, now);
                Response::from_json(&self.answer_step(state, &name, step, true, now).await?)
            }
            BreakerCall::Resume { name } => {
                let step = breaker::operator_resume(state, now);
                Response::from_json(&self.answer_step(state, &name, step, true, now).await?)
            }
            BreakerCall::Status => Response::from_json(&BreakerView::of(state)),
        }
    }

    async fn name(&self) -> Result<String> {
        Ok(self
            .state
            .storage()
            .get::<String>(NAME_KEY)
            .await?
            .unwrap_or_default())
    }
}

impl DurableObject for Breaker {
    fn new(state: State, env: Env) -> Self {
        Breaker {
            state,
            env,
            cached: RefCell::new(None),
            turn: futures_util::lock::Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let config = match config::load(&self.env) {
            Ok(config) => config,
            Err(error) => return Response::error(format!("configuration broken: {error}"), 503),
        };
        let settings = config.delivery.breaker;
        let call: BreakerCall = match req.json().await {
            Ok(call) => call,
            Err(error) => return Response::error(format!("not a breaker call: {error}"), 400),
        };
        let _turn = self.turn.lock().await;
        let now = worker::Date::now().as_millis();
        let mut state = self.load().await?;
        self.answer(&mut state, &settings, call, now).await
    }

    async fn alarm(&self) -> Result<Response> {
        let _turn = self.turn.lock().await;
        let now = worker::Date::now().as_millis();
        let mut state = self.load().await?;
        let step = breaker::alarm(&mut state, now);
        let name = self.name().await?;
        self.carry_out(&mut state, step, &name, false, now).await?;
        Response::ok("")
    }
}

// ---- The Worker's side: calls to a destination's object through its stub ----

async fn call<T: DeserializeOwned>(env: &Env, name: &str, call: &BreakerCall) -> Result<T> {
    let stub = env
        .durable_object(bindings::BREAKER)?
        .id_from_name(name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(call)?.into()));
    let request = Request::new_with_init("https://breaker/", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    match response.status_code() {
        200 => response.json().await,
        status => Err(worker::Error::RustError(format!(
            "the breaker of `{name}` answered {status}: {}",
            response.text().await.unwrap_or_default()
        ))),
    }
}

/// Asks `name`'s breaker whether to attempt the event `id` received at
/// `received_at`.
pub async fn ask(env: &Env, name: &str, id: &str, received_at: u64) -> Result<AskAnswer> {
    let ask = BreakerCall::Ask {
        name: name.to_owned(),
        id: id.to_owned(),
        received_at,
    };
    call(env, name, &ask).await
}

/// Hands `name`'s breaker the event it wants to hold (whose `destination`
/// is `name`); a held one is the object's from here on.
pub async fn hold(env: &Env, name: &str, delivery: QueuedDelivery) -> Result<AskAnswer> {
    let hold = BreakerCall::Hold {
        name: name.to_owned(),
        delivery,
    };
    call(env, name, &hold).await
}

/// Reports an attempt's outcome to `name`'s breaker; the alert to send.
pub async fn report(
    env: &Env,
    name: &str,
    released: Option<String>,
    outcome: Outcome,
    error: Option<String>,
) -> Result<Option<Alert>> {
    let report = BreakerCall::Report {
        name: name.to_owned(),
        released,
        outcome,
        error,
    };
    let answer: AlertAnswer = call(env, name, &report).await?;
    Ok(answer.alert)
}

/// An operator pauses (`pause: true`) or resumes `name`; the alert to send.
pub async fn force(env: &Env, name: &str, pause: bool) -> Result<Option<Alert>> {
    let command = match pause {
        true => BreakerCall::Pause {
            name: name.to_owned(),
        },
        false => BreakerCall::Resume {
            name: name.to_owned(),
        },
    };
    let answer: AlertAnswer = call(env, name, &command).await?;
    Ok(answer.alert)
}

/// `name`'s breaker state.
pub async fn status(env: &Env, name: &str) -> Result<BreakerView> {
    call(env, name, &BreakerCall::Status).await
}
