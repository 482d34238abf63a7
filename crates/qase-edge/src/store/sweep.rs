//! The cron sweep: carries out [`engine::store::sweep`]: rescue keys into
//! D1 and the queue, `pending` rows sent again, expired rows deleted, the
//! reconcile pass ([`engine::runs::reconcile`]), the webhook check
//! ([`engine::alerts::disabled`]) and the watchdog, whose alerts give way
//! to the check's about one project. Each step logs its own failure and
//! leaves its work for the next run; none stops the others.

use worker::Env;

use crate::alerts;
use crate::delivery::ops;
use crate::store::sinks;
use crate::store::{db, queue};
use engine::alerts::disabled::{self, probe::DisabledCheck, Decided, DisabledRow};
use engine::alerts::watch;
use engine::config::bindings;
use engine::config::Config;
use engine::delivery::queue::TaggedDelivery;
use engine::runs::reconcile::cursor::{self, Cursor, CursorRow};
use engine::runs::reconcile::Reconcile;
use engine::runs::sql;
use engine::store::d1::{self, UnforwardedRow};
use engine::store::layout::{self, RescueMetadata};
use engine::store::settings::Sink;
use engine::store::sweep::{self, RESCUE_BATCH};

/// What one run did, for its log line.
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    rescued: usize,
    redriven: usize,
    expired: usize,
}

/// Runs the sweep once.
pub async fn run(env: &Env, config: &Config, now: u64) {
    let mut report = Report::default();
    if config.store.kv_bound {
        match rescue(env, config).await {
            Ok(count) => report.rescued = count,
            Err(error) => worker::console_error!("sweep: rescue failed: {error}"),
        }
    }
    if config.store.has_sink(Sink::D1) {
        match redrive(env, config, now).await {
            Ok(count) => report.redriven = count,
            Err(error) => worker::console_error!("sweep: re-drive failed: {error}"),
        }
        match expire(env, config, now).await {
            Ok(count) => report.expired = count,
            Err(error) => worker::console_error!("sweep: retention failed: {error}"),
        }
    }
    let api_held = reconcile(env, config, now).await;
    let decided = match config.store.has_sink(Sink::D1) {
        true => webhook_check(env, config, api_held, now).await,
        false => Vec::new(),
    };
    if !config.alerts.watch.is_empty() {
        if let Err(error) = watchdog(env, config, &decided, now).await {
            worker::console_error!("sweep: watchdog failed: {error}");
        }
    }
    worker::console_log!(
        "{}",
        serde_json::json!({"event": "sweep", "rescued": report.rescued, "redriven": report.redriven, "expired": report.expired})
    );
}

/// Moves `rescue/` keys into D1 and the queue; how many it moved.
async fn rescue(env: &Env, config: &Config) -> worker::Result<usize> {
    let kv = env.kv(bindings::EVENTS_KV)?;
    let page = kv
        .list()
        .prefix(layout::RESCUE.to_owned())
        .limit(RESCUE_BATCH as u64)
        .execute()
        .await?;
    let mut moved = 0;
    for key in page.keys {
        let Some(id) = sweep::rescued_id(&key.name) else {
            continue;
        };
        let (body, metadata) = kv
            .get(&key.name)
            .bytes_with_metadata::<RescueMetadata>()
            .await?;
        let (Some(body), Some(metadata)) = (body, metadata) else {
            continue;
        };
        let Some(plan) = sweep::rescue(&config.store, id, &metadata, &body) else {
            worker::console_error!(
                "sweep: {} is not an envelope; left for an operator",
                key.name
            );
            continue;
        };
        if plan.body_to_kv {
            sinks::put(
                env,
                &layout::event_key(id),
                &body,
                None::<()>,
                config.store.retention_seconds,
            )
            .await?;
        }
        let changes = match &plan.insert {
            Some(event) => {
                let db = db::database(env)?;
                Some(db::changes(&db, &d1::rescue_insert(event), Some(&body)).await?)
            }
            None => None,
        };
        if let Some(message) = plan.message.filter(|_| sweep::send_after_insert(changes)) {
            sinks::send_to_queue(env, &message).await?;
        }
        kv.delete(&key.name).await?;
        moved += 1;
    }
    Ok(moved)
}

/// Sends `pending` rows again, in one batch; how many.
async fn redrive(env: &Env, config: &Config, now: u64) -> worker::Result<usize> {
    let db = db::database(env)?;
    let rows: Vec<UnforwardedRow> = db::rows(&db, &sweep::unforwarded(&config.store, now)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let messages: Vec<_> = rows.iter().map(sweep::redrive_message).collect();
    let tagged = messages.iter().map(TaggedDelivery::Delivery);
    queue::send_batch(env, bindings::DELIVERIES_QUEUE, tagged).await?;
    Ok(rows.len())
}

/// Deletes what outlived the retention; how many events.
async fn expire(env: &Env, config: &Config, now: u64) -> worker::Result<usize> {
    let Some(cutoff) = sweep::retention_cutoff(&config.store, now) else {
        return Ok(0);
    };
    let db = db::database(env)?;
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let in_kv: Vec<Id> = db::rows(&db, &d1::expired_in_kv(cutoff)).await?;
    if !in_kv.is_empty() {
        let kv = env.kv(bindings::EVENTS_KV)?;
        for row in &in_kv {
            kv.delete(&layout::event_key(&row.id)).await?;
        }
    }
    let [deliveries, events] = d1::delete_expired(cutoff);
    db::changes(&db, &deliveries, None).await?;
    let expired = db::changes(&db, &events, None).await;
    // Runs (migrations/0003_runs.sql) last as long as their events; their
    // objects forget them on their own alarm (shell::run_watch).
    for statement in sql::delete_expired(cutoff) {
        if let Err(error) = db::changes(&db, &statement, None).await {
            worker::console_warn!("expired runs not deleted: {error}");
        }
    }
    // The audit log is kept as long as the events, and pruned only past it.
    if let Err(error) = db::changes(&db, &engine::api::audit::delete_expired(cutoff), None).await {
        worker::console_warn!("expired audit rows not deleted: {error}");
    }
    expired
}

/// The reconcile pass (issue #29), when `QASE_API_TOKEN` is set and a
/// project is reconciled: the machine driven like the consumer's, its
/// cursors read from D1 before and written after. Without D1 every pass
/// starts from its look-back; a cursor not written is a pass repeated,
/// which is safe. Whether a `Retry-After` of Qase's holds the API now.
async fn reconcile(env: &Env, config: &Config, now: u64) -> bool {
    let d1 = config.store.has_sink(Sink::D1);
    let stored = match d1 {
        true => stored_cursors(env).await,
        false => Ok(Vec::new()),
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(error) => {
            worker::console_error!("sweep: reconcile not run, its cursors unread: {error}");
            return false;
        }
    };
    let Some((mut machine, next)) = Reconcile::start(config, &stored, now) else {
        return disabled::api_held(&stored, now);
    };
    ops::drive(env, &mut machine, next).await;
    if d1 {
        if let Err(error) = store_cursors(env, machine.cursors()).await {
            worker::console_warn!("sweep: the reconcile cursors not stored: {error}");
        }
    }
    disabled::api_held(&stored, now) || disabled::api_held(machine.cursors(), now)
}

/// The checked projects' stored rows (`disabled_state`) and their last
/// delivery in D1.
pub async fn webhook_facts(
    env: &Env,
    config: &Config,
) -> worker::Result<(Vec<DisabledRow>, Vec<watch::LastDelivery>)> {
    let subjects = disabled::subjects(config);
    if subjects.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let database = db::database(env)?;
    let projects: Vec<&str> = subjects.iter().map(|s| s.project.as_str()).collect();
    let rows = db::rows(&database, &disabled::rows()).await?;
    let last = db::rows(&database, &watch::last_deliveries(&projects)).await?;
    Ok((rows, last))
}

/// The webhook check (issue #29): Qase's API asked about the projects
/// silent past the grace, each row stored before its alert is raised (an
/// alert whose row was not stored is not raised: the next pass decides
/// again). What was decided, for the watchdog; nothing when it failed.
async fn webhook_check(env: &Env, config: &Config, api_held: bool, now: u64) -> Vec<Decided> {
    let (rows, last) = match webhook_facts(env, config).await {
        Ok(facts) => facts,
        Err(error) => {
            worker::console_error!("sweep: webhook check not run, its rows unread: {error}");
            return Vec::new();
        }
    };
    let Some((mut machine, next)) = DisabledCheck::start(config, &rows, &last, api_held, now)
    else {
        return Vec::new();
    };
    ops::drive(env, &mut machine, next).await;
    let Ok(database) = db::database(env) else {
        return Vec::new();
    };
    let mut carried = Vec::new();
    for decided in machine.decided() {
        if let Some(row) = &decided.row {
            let stored = db::changes(&database, &disabled::upsert(row, now), None).await;
            if let Err(error) = stored {
                worker::console_error!(
                    "sweep: webhook check of {}: row not stored: {error}",
                    decided.project
                );
                continue;
            }
        }
        if let Some(alert) = &decided.alert {
            alerts::raise(env, config, alert.clone(), false).await;
        }
        carried.push(decided.clone());
    }
    carried
}

async fn stored_cursors(env: &Env) -> worker::Result<Vec<Cursor>> {
    let database = db::database(env)?;
    let rows: Vec<CursorRow> = db::rows(&database, &cursor::rows()).await?;
    Ok(rows.iter().map(CursorRow::cursor).collect())
}

async fn store_cursors(env: &Env, moved: &[Cursor]) -> worker::Result<()> {
    let now = worker::Date::now().as_millis();
    let writes: Vec<_> = moved
        .iter()
        .map(|moved| cursor::upsert(moved, now))
        .collect();
    db::write_all(&db::database(env)?, &writes, None).await
}

/// The watched projects' stored rows and their last delivery in D1.
pub async fn watch_facts(
    env: &Env,
    config: &Config,
) -> worker::Result<(Vec<watch::WatchRow>, Vec<watch::LastDelivery>)> {
    let database = db::database(env)?;
    let projects: Vec<&str> = config
        .alerts
        .watch
        .iter()
        .map(|w| w.project.as_str())
        .collect();
    let rows = db::rows(&database, &watch::rows()).await?;
    let last = db::rows(&database, &watch::last_deliveries(&projects)).await?;
    Ok((rows, last))
}

/// The watchdog (issue #19): each watched project silent past its window
/// raises an alert, once per window; a delivery after that, one "back".
/// Either gives way to the webhook check's alert about the project
/// ([`disabled::one_message`]).
async fn watchdog(env: &Env, config: &Config, decided: &[Decided], now: u64) -> worker::Result<()> {
    let (rows, last) = watch_facts(env, config).await?;
    let database = db::database(env)?;
    for watched in &config.alerts.watch {
        let stored = rows.iter().find(|r| r.project_code == watched.project);
        let at = last
            .iter()
            .find(|l| l.project_code == watched.project)
            .and_then(|l| l.at);
        let checked = watch::check(watched, stored, at, config.alerts.interval_ms, now);
        if let Some(row) = &checked.row {
            db::changes(&database, &watch::upsert(row), None).await?;
        }
        let checked_too = decided.iter().find(|d| d.project == watched.project);
        if let Some(alert) = disabled::one_message(checked.alert, checked_too) {
            alerts::raise(env, config, alert, false).await;
        }
    }
    Ok(())
}
