//! The Durable Object that keeps one destination's breaker (issue #19):
//! one instance per destination name, so every isolate and queue batch
//! asks and reports to the same object, which changes state once (one
//! pause, one resume) and keeps the held events in its storage under keys
//! that sort by arrival ([`breaker::held_key`]). The rules are
//! [`engine::delivery::breaker`]'s; this object stores, releases and wakes.
//!
//! Internal routes (called through the stub, never exposed):
//! - `POST /ask` `{name, delivery}`: attempt it, or hold it.
//! - `POST /report` `{name, released, outcome, error}`: an attempt's outcome.
//! - `POST /pause`, `POST /resume` `{name}`: an operator's command.
//! - `GET /status`: the state, as the API shows it.
//!
//! Each answers the alert to send, if any (rate-limited here, per kind).

use std::cell::RefCell;

use qase_webhooks::chat::Alert;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, ListOptions, Method, Request, RequestInit, Response,
    Result, State,
};

use crate::config;
use engine::config::bindings;
use engine::delivery::breaker::{
    self, BreakerSettings, BreakerState, Change, Decision, Outcome, Phase, Step,
};
use engine::delivery::breaker_reports;
use engine::delivery::messages::QueuedDelivery;

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

/// `POST /ask`.
#[derive(Serialize, Deserialize)]
struct AskBody {
    name: String,
    delivery: QueuedDelivery,
}

/// The answer to `/ask`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AskAnswer {
    /// Attempt or held.
    pub decision: Decision,
    /// Whether a delivered attempt needs reporting (it does while failures
    /// are being counted; a healthy destination costs one call per message).
    pub report_success: bool,
}

/// `POST /report`.
#[derive(Serialize, Deserialize)]
struct ReportBody {
    name: String,
    released: Option<String>,
    outcome: Outcome,
    error: Option<String>,
}

/// `POST /pause` and `/resume`.
#[derive(Serialize, Deserialize)]
struct NameBody {
    name: String,
}

/// What `/report`, `/pause` and `/resume` answer: the alert to send.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AlertAnswer {
    /// The alert, when the state changed and the rate limit allows one.
    pub alert: Option<Alert>,
}

/// A breaker's state as the API and `/health` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BreakerView {
    /// `active`, `paused`, `probing` or `draining`.
    pub state: Phase,
    /// Since when, Unix ms (`null`: never changed).
    pub since: Option<u64>,
    /// Why it is paused.
    pub reason: Option<String>,
    /// Paused by an operator.
    pub paused_by_operator: bool,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Events held.
    pub held: u64,
    /// The next probe, Unix ms.
    pub next_probe_at: Option<u64>,
}

impl BreakerView {
    fn of(state: &BreakerState) -> BreakerView {
        BreakerView {
            state: state.phase,
            since: (state.since > 0).then_some(state.since),
            reason: state.reason.clone(),
            paused_by_operator: state.paused_by_operator,
            consecutive_failures: state.consecutive_failures,
            held: state.held,
            next_probe_at: match state.phase {
                Phase::Paused => state.next_probe_at,
                _ => None,
            },
        }
    }
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
            if existed && step.forget_uncounted {
                state.held = state.held.saturating_sub(1);
            }
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
        let alert = match step.change {
            Some(Change::Paused) if breaker::may_alert(state, "paused", interval, now) => {
                Some(Alert::DestinationPaused {
                    destination: name.to_owned(),
                    reason: state.reason.clone().unwrap_or_default(),
                    by_operator,
                })
            }
            Some(Change::Resumed) if breaker::may_alert(state, "resumed", interval, now) => {
                Some(Alert::DestinationResumed {
                    destination: name.to_owned(),
                    // The one just delivered, and what is still held.
                    held: state.held + u64::from(!by_operator),
                    by_operator,
                })
            }
            _ => None,
        };
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
            // Nothing held after all (the count drifted): start afresh.
            state.held = 0;
            state.released = None;
            if state.phase != Phase::Paused {
                state.phase = Phase::Active;
            }
            return Ok(());
        };
        let entry: js_sys::Array = entry?.into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let json = entry.get(1).as_string().unwrap_or_default();
        let held: QueuedDelivery = serde_json::from_str(&json)?;
        let message = QueuedDelivery {
            released: Some(key.clone()),
            not_before: None,
            ..held
        };
        match self.env.queue(bindings::DELIVERIES_QUEUE) {
            Ok(queue) => {
                if let Err(error) = queue.send(&message).await {
                    // The alarm releases it again after the timeout.
                    worker::console_error!("breaker: the release of {key} failed: {error}");
                }
            }
            Err(error) => worker::console_error!("breaker: no queue: {error}"),
        }
        breaker::released(state, &key, now);
        Ok(())
    }

    /// `POST /ask`: attempt the event, or hold it (stored under its
    /// [`breaker::held_key`], counted once however often it is asked).
    async fn answer_ask(
        &self,
        state: &mut BreakerState,
        settings: &BreakerSettings,
        body: &str,
        now: u64,
    ) -> Result<Response> {
        let body: AskBody = serde_json::from_str(body)?;
        let decision = breaker::ask(state, settings);
        if decision == Decision::Held {
            self.remember_name(&body.name).await?;
            let new = self.hold(body.delivery).await?;
            let step = breaker::held(state, new, now);
            self.carry_out(state, step, &body.name, false, now).await?;
        }
        Response::from_json(&AskAnswer {
            decision,
            report_success: breaker_reports::wants_successes(state, settings),
        })
    }

    /// Stores a held event, unless it is already; `true` when it was not.
    async fn hold(&self, delivery: QueuedDelivery) -> Result<bool> {
        let key = breaker::held_key(delivery.received_at, &delivery.id);
        let storage = self.state.storage();
        let new = storage.get::<String>(&key).await?.is_none();
        if new {
            let held = QueuedDelivery {
                not_before: None,
                released: None,
                ..delivery
            };
            storage.put(&key, serde_json::to_string(&held)?).await?;
        }
        Ok(new)
    }

    /// `POST /report`: an attempt's outcome.
    async fn answer_report(
        &self,
        state: &mut BreakerState,
        settings: &BreakerSettings,
        body: &str,
        now: u64,
    ) -> Result<Response> {
        let body: ReportBody = serde_json::from_str(body)?;
        self.remember_name(&body.name).await?;
        let step = breaker::report(
            state,
            settings,
            body.released.as_deref(),
            body.outcome,
            body.error.as_deref(),
            now,
        );
        let alert = self.carry_out(state, step, &body.name, false, now).await?;
        Response::from_json(&AlertAnswer { alert })
    }

    /// `POST /pause` (`pause`) or `POST /resume`: an operator's command.
    async fn answer_operator(
        &self,
        state: &mut BreakerState,
        pause: bool,
        body: &str,
        now: u64,
    ) -> Result<Response> {
        let body: NameBody = serde_json::from_str(body)?;
        self.remember_name(&body.name).await?;
        let step = match pause {
            true => breaker::operator_pause(state, now),
            false => breaker::operator_resume(state, now),
        };
        let alert = self.carry_out(state, step, &body.name, true, now).await?;
        Response::from_json(&AlertAnswer { alert })
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
        let path = req.path();
        let config = match config::load(&self.env) {
            Ok(config) => config,
            Err(error) => return Response::error(format!("configuration broken: {error}"), 503),
        };
        let settings = config.delivery.breaker;
        let body = match req.method() {
            Method::Post => req.text().await?,
            _ => String::new(),
        };
        let _turn = self.turn.lock().await;
        let now = worker::Date::now().as_millis();
        let mut state = self.load().await?;
        match path.as_str() {
            "/ask" => self.answer_ask(&mut state, &settings, &body, now).await,
            "/report" => self.answer_report(&mut state, &settings, &body, now).await,
            "/pause" | "/resume" => {
                let pause = path == "/pause";
                self.answer_operator(&mut state, pause, &body, now).await
            }
            "/status" => Response::from_json(&BreakerView::of(&state)),
            _ => Response::error("not found", 404),
        }
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

async fn call<T: for<'de> Deserialize<'de>>(
    env: &Env,
    name: &str,
    path: &str,
    body: Option<String>,
) -> Result<T> {
    let stub = env
        .durable_object(bindings::BREAKER)?
        .id_from_name(name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    match body {
        Some(body) => init.with_method(Method::Post).with_body(Some(body.into())),
        None => init.with_method(Method::Get),
    };
    let request = Request::new_with_init(&format!("https://breaker{path}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    match response.status_code() {
        200 => response.json().await,
        status => Err(worker::Error::RustError(format!(
            "the breaker of `{name}` answered {status}: {}",
            response.text().await.unwrap_or_default()
        ))),
    }
}

/// Asks `name`'s breaker whether to attempt `delivery` (whose `destination`
/// is `name`); a held one is the object's from here on.
pub async fn ask(env: &Env, name: &str, delivery: &QueuedDelivery) -> Result<AskAnswer> {
    let body = AskBody {
        name: name.to_owned(),
        delivery: delivery.clone(),
    };
    call(env, name, "/ask", Some(serde_json::to_string(&body)?)).await
}

/// Reports an attempt's outcome to `name`'s breaker; the alert to send.
pub async fn report(
    env: &Env,
    name: &str,
    released: Option<&str>,
    outcome: Outcome,
    error: Option<&str>,
) -> Result<Option<Alert>> {
    let body = ReportBody {
        name: name.to_owned(),
        released: released.map(str::to_owned),
        outcome,
        error: error.map(str::to_owned),
    };
    let answer: AlertAnswer =
        call(env, name, "/report", Some(serde_json::to_string(&body)?)).await?;
    Ok(answer.alert)
}

/// An operator pauses (`pause: true`) or resumes `name`; the alert to send.
pub async fn force(env: &Env, name: &str, pause: bool) -> Result<Option<Alert>> {
    let path = if pause { "/pause" } else { "/resume" };
    let body = NameBody {
        name: name.to_owned(),
    };
    let answer: AlertAnswer = call(env, name, path, Some(serde_json::to_string(&body)?)).await?;
    Ok(answer.alert)
}

/// `name`'s breaker state.
pub async fn status(env: &Env, name: &str) -> Result<BreakerView> {
    call(env, name, "/status", None).await
}
