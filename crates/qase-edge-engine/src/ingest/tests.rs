//! The ingest decision end to end: the header checks, the body's
//! admission, the plan, and carrying it out with stores that answer, fail
//! or hold duplicates.

use super::*;
use crate::config::{bindings, Config, ConfigError};
use crate::delivery::messages::INLINE_BODY_LIMIT;
use crate::store::d1::D1_BODY_LIMIT;
use crate::store::layout;
use crate::store::settings::Sink;
use crate::store::types::{EventStatus, Forward};

const SECRET: &str = "s3cret";

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    crate::config::for_tests(pairs)
}

fn facts(secret: Option<&str>) -> RequestFacts<'_> {
    RequestFacts {
        content_length: Some("100"),
        secret,
        content_type: Some("application/json"),
    }
}

fn body(event_name: &str, payload: &str) -> Vec<u8> {
    format!(
        r#"{{"event_name":"{event_name}","timestamp":1,"payload":{payload},"team_member_id":1,"project_code":"P/Q"}}"#
    )
    .into_bytes()
}

/// Runs steps 1 to 3 for `body`.
fn decide(config: &Result<Config, ConfigError>, body: &[u8]) -> Result<Plan, Refusal> {
    let admission = check_headers(config, facts(Some(SECRET)))?;
    let delivery = admit(&admission, body)?;
    plan(config.as_ref().unwrap(), &delivery, 1_700_000_000_000)
}

/// An operation's shape, to compare rounds.
fn shape(op: &Op) -> String {
    match op {
        Op::Record(_) => "record".into(),
        Op::Lookup(key) => format!("lookup {key}"),
        Op::Put(write) => format!("put {}", write.key),
        Op::Send(message) => format!("send recorded={}", message.recorded),
    }
}

/// Carries `plan` out with the stores answering as `answer` says for
/// each operation; the rounds run (as shapes) and the answer.
fn carry_out(
    plan: Plan,
    answer: impl Fn(&Op) -> OpResult,
) -> (Vec<Vec<String>>, Result<Outcome, Refusal>, Ingest) {
    let (mut ingest, mut next) = Ingest::start(plan);
    let mut rounds = Vec::new();
    loop {
        match next {
            Next::Answer(result) => return (rounds, result, ingest),
            Next::Run(ops) => {
                assert!(rounds.len() < 5, "a plan is carried out in a few rounds");
                rounds.push(ops.iter().map(shape).collect());
                let results: Vec<OpResult> = ops.iter().map(&answer).collect();
                next = ingest.feed(&results);
            }
        }
    }
}

const DOWN: &str = "Network connection lost.";

/// The `forward` the rescue copy records when the stores answer as `answer` says.
fn rescue_forward(ingest: &Ingest, answer: impl Fn(&Op) -> OpResult) -> Option<Forward> {
    let (mut ingest, mut next) = Ingest::start(ingest.plan().clone());
    loop {
        match next {
            Next::Answer(_) => return None,
            Next::Run(ops) => {
                for op in &ops {
                    if let Op::Put(KvWrite {
                        metadata: Some(KvMetadata::Rescue(metadata)),
                        ..
                    }) = op
                    {
                        return Some(metadata.forward);
                    }
                }
                let results: Vec<OpResult> = ops.iter().map(&answer).collect();
                next = ingest.feed(&results);
            }
        }
    }
}

/// Every store answers; `record` gives `duplicates`.
fn healthy(duplicates: u64) -> impl Fn(&Op) -> OpResult {
    move |op| match op {
        Op::Record(_) => OpResult::Done(duplicates),
        _ => OpResult::Done(0),
    }
}

/// The stores whose shapes start with one of `down` fail.
fn failing(down: &'static [&'static str]) -> impl Fn(&Op) -> OpResult {
    move |op| match down.iter().any(|d| shape(op).starts_with(d)) {
        true => OpResult::Failed(DOWN.into()),
        false => OpResult::Done(0),
    }
}

#[test]
fn header_checks_run_in_order_and_refuse_before_the_body() {
    let broken = config(&[(bindings::AUTH, "maybe")]);
    assert!(matches!(
        check_headers(&broken, facts(None)),
        Err(Refusal::Misconfigured(_))
    ));
    let config = config(&[(bindings::MAX_BODY_BYTES, "50")]);
    assert_eq!(
        check_headers(&config, facts(Some(SECRET))).unwrap_err(),
        Refusal::TooLarge { limit: 50 },
        "size comes before the secret"
    );
    let config = super::tests::config(&[]);
    assert_eq!(
        check_headers(&config, facts(Some("wrong"))).unwrap_err(),
        Refusal::Unauthorized
    );
    let xml = RequestFacts {
        content_type: Some("text/xml"),
        ..facts(Some(SECRET))
    };
    assert_eq!(
        check_headers(&config, xml).unwrap_err(),
        Refusal::UnsupportedMediaType
    );
    for content_type in [
        None,
        Some("application/json; charset=utf-8"),
        Some("application/cloudevents+json"),
    ] {
        let facts = RequestFacts {
            content_type,
            ..facts(Some(SECRET))
        };
        assert!(check_headers(&config, facts).is_ok(), "{content_type:?}");
    }
    let no_secret = Config::from_lookup(|_| None, &Sink::ALL);
    assert_eq!(
        check_headers(&no_secret, facts(Some(SECRET))).unwrap_err(),
        Refusal::NoSecretConfigured
    );
}

#[test]
fn a_body_past_the_limit_is_refused_as_it_is_read() {
    let config = config(&[(bindings::MAX_BODY_BYTES, "10")]).unwrap();
    assert!(check_body_size(&config.ingest, 10).is_ok());
    assert_eq!(
        check_body_size(&config.ingest, 11),
        Err(Refusal::TooLarge { limit: 10 })
    );
}

#[test]
fn bodies_are_refused_as_json_or_envelope_errors() {
    let config = config(&[]);
    assert!(matches!(
        decide(&config, b"{"),
        Err(Refusal::InvalidJson(_))
    ));
    assert!(matches!(
        decide(&config, b"[]"),
        Err(Refusal::InvalidEnvelope(_))
    ));
}

#[test]
fn by_default_an_event_costs_one_d1_row_and_one_queue_message() {
    let config = config(&[]);
    let body = body("run.deleted", r#"{"id":42}"#);
    let plan = decide(&config, &body).unwrap();
    let record = plan.record.clone().unwrap();
    assert_eq!(record.id, qase_webhooks::EventId::of(&body).to_string());
    assert_eq!(
        (record.forward, record.body_in_kv),
        (Forward::Pending, false)
    );
    assert_eq!(record.subjects.run, Some(42));
    assert_eq!(record.project_code, "P/Q");
    assert!(plan.kv.is_none() && plan.seen.is_none());
    let message = plan.queue.clone().unwrap();
    assert_eq!(message.body.as_deref().map(str::as_bytes), Some(&body[..]));

    let (rounds, answer, ingest) = carry_out(plan, healthy(0));
    assert_eq!(rounds, [vec!["record"], vec!["send recorded=true"]]);
    assert_eq!(answer, Ok(Outcome::Accepted));
    assert!(ingest.after_answer().is_none() && ingest.failures().is_empty());
}

#[test]
fn a_copy_of_stored_bytes_is_a_duplicate_and_nothing_else_is_written() {
    let plan = decide(&config(&[]), &body("run.deleted", r#"{"id":1}"#)).unwrap();
    let (rounds, answer, _) = carry_out(plan, healthy(1));
    assert_eq!(rounds, [vec!["record"]]);
    assert_eq!(answer, Ok(Outcome::Duplicate));
    assert_eq!(Outcome::Duplicate.http_status(), 200);
}

#[test]
fn every_store_failure_is_covered_by_another_store_or_refused() {
    let plan = || decide(&config(&[]), &body("run.deleted", r#"{"id":1}"#)).unwrap();
    let rescue = format!("put {}", layout::rescue_key(&plan().record.unwrap().id));

    // The queue down: the `pending` row is sent again by the sweep.
    let (rounds, answer, ingest) = carry_out(plan(), failing(&["send"]));
    assert_eq!(rounds, [vec!["record"], vec!["send recorded=true"]]);
    assert_eq!(
        (answer, ingest.failures().len()),
        (Ok(Outcome::Accepted), 1)
    );

    // D1 down: the message says so (the consumer records it), and the
    // rescue copy waits for the sweep, which records it as `pending` and
    // sends it: whichever message claims the row is forwarded.
    let (rounds, answer, ingest) = carry_out(plan(), failing(&["record"]));
    assert_eq!(
        rounds,
        [
            vec!["record".to_owned()],
            vec!["send recorded=false".to_owned(), rescue.clone()]
        ]
    );
    assert_eq!(answer, Ok(Outcome::Accepted));
    assert_eq!(
        rescue_forward(&ingest, failing(&["record"])),
        Some(Forward::Pending)
    );

    // D1 and the queue down: the rescue copy holds it.
    let (_, answer, _) = carry_out(plan(), failing(&["record", "send"]));
    assert_eq!(answer, Ok(Outcome::Accepted));
    // D1 and KV down: the queue message holds it.
    let (_, answer, _) = carry_out(plan(), failing(&["record", "put"]));
    assert_eq!(answer, Ok(Outcome::Accepted));
    // Everything down: nothing holds it, retry.
    let (_, answer, _) = carry_out(plan(), failing(&["record", "send", "put"]));
    assert_eq!(answer, Err(Refusal::StorageUnavailable));
    // A refusal no retry fixes is said so.
    let (_, answer, _) = carry_out(plan(), |_: &Op| {
        OpResult::Failed("D1_ERROR: string or blob too big: SQLITE_TOOBIG".into())
    });
    assert_eq!(answer, Err(Refusal::StorageRejected));
}

#[test]
fn without_kv_bound_a_failed_d1_write_relies_on_the_queue_alone() {
    let lookup = |key: &str| match key {
        bindings::WEBHOOK_SECRET => Some(SECRET.to_owned()),
        _ => None,
    };
    let config = Config::from_lookup(lookup, &[Sink::D1, Sink::Queue]);
    let plan = decide(&config, &body("run.deleted", r#"{"id":1}"#)).unwrap();
    assert!(plan.rescue.is_none());
    let (rounds, answer, _) = carry_out(plan.clone(), failing(&["record"]));
    assert_eq!(rounds[1], ["send recorded=false"]);
    assert_eq!(answer, Ok(Outcome::Accepted));
    let (_, answer, _) = carry_out(plan, failing(&["record", "send"]));
    assert_eq!(answer, Err(Refusal::StorageUnavailable));
}

#[test]
fn the_kv_sink_adds_one_key_per_event_whose_failure_d1_covers() {
    let config = config(&[(bindings::SINKS, "d1,kv,queue")]);
    let body = body("run.deleted", r#"{"id":1}"#);
    let id = qase_webhooks::EventId::of(&body).to_string();
    let plan = decide(&config, &body).unwrap();
    let (rounds, answer, _) = carry_out(plan.clone(), healthy(0));
    assert_eq!(
        rounds[1],
        [
            format!("put {}", layout::event_key(&id)),
            "send recorded=true".into()
        ]
    );
    assert_eq!(answer, Ok(Outcome::Accepted));
    let (_, answer, _) = carry_out(plan, failing(&["put"]));
    assert_eq!(answer, Ok(Outcome::Accepted));
}

#[test]
fn without_d1_kv_markers_detect_duplicates_and_a_failed_send_is_rescued() {
    let config = config(&[(bindings::SINKS, "kv,queue")]);
    let body = body("run.deleted", r#"{"id":1}"#);
    let id = qase_webhooks::EventId::of(&body).to_string();
    let plan = decide(&config, &body).unwrap();
    assert!(plan.record.is_none());
    let (rounds, answer, ingest) = carry_out(plan.clone(), healthy(0));
    assert_eq!(rounds[0], [format!("lookup {}", layout::seen_key(&id))]);
    assert_eq!(answer, Ok(Outcome::Accepted));
    assert_eq!(ingest.after_answer().unwrap().key, layout::seen_key(&id));

    // Found: a duplicate, no marker written again.
    let (rounds, answer, ingest) = carry_out(plan.clone(), |_: &Op| OpResult::Done(1));
    assert_eq!((rounds.len(), answer), (1, Ok(Outcome::Duplicate)));
    assert!(ingest.after_answer().is_none());

    // The queue down: the KV copy holds it, the rescue copy makes the
    // sweep send it.
    let (rounds, answer, _) = carry_out(plan.clone(), failing(&["send"]));
    assert_eq!(rounds[2], [format!("put {}", layout::rescue_key(&id))]);
    assert_eq!(answer, Ok(Outcome::Accepted));
    // The marker unreadable: refused rather than risk forwarding twice.
    let (_, answer, _) = carry_out(plan, failing(&["lookup"]));
    assert_eq!(answer, Err(Refusal::StorageUnavailable));
    let off = super::tests::config(&[
        (bindings::SINKS, "kv,queue"),
        (bindings::DEDUPE_SECONDS, "0"),
    ]);
    assert!(decide(&off, &body).unwrap().seen.is_none());
}

#[test]
fn a_body_too_large_for_a_row_is_in_kv_before_the_row_points_to_it() {
    let config = config(&[(bindings::MAX_BODY_BYTES, "2000000")]);
    let large = body(
        "run.deleted",
        &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(D1_BODY_LIMIT)),
    );
    let id = qase_webhooks::EventId::of(&large).to_string();
    let plan = decide(&config, &large).unwrap();
    assert!(plan.record.as_ref().unwrap().body_in_kv);
    assert!(plan.queue.as_ref().unwrap().body.is_none(), "read from KV");
    let (rounds, answer, _) = carry_out(plan.clone(), healthy(0));
    assert_eq!(
        rounds,
        [
            vec![format!("put {}", layout::event_key(&id))],
            vec!["record".to_owned()],
            vec!["send recorded=true".to_owned()]
        ]
    );
    assert_eq!(answer, Ok(Outcome::Accepted));
    let (rounds, answer, _) = carry_out(plan, failing(&["put"]));
    assert_eq!(
        (rounds.len(), answer),
        (1, Err(Refusal::StorageUnavailable))
    );
}

#[test]
fn a_payload_that_does_not_fit_is_quarantined_or_rejected_by_policy() {
    let body = body("run.deleted", r#"{"id":"x"}"#);
    let plan = decide(&config(&[]), &body).unwrap();
    assert_eq!(plan.outcome, Outcome::Quarantined);
    assert!(plan.queue.is_none(), "quarantined events are not forwarded");
    let quarantine = plan.quarantine.clone().unwrap();
    assert_eq!(
        (quarantine.field.as_str(), quarantine.kind.as_str()),
        ("id", "invalid type")
    );
    let record = plan.record.clone().unwrap();
    assert_eq!(
        (record.outcome, record.forward),
        (EventStatus::Quarantined, Forward::None)
    );
    assert!(record.reason.unwrap().contains("run.deleted"));
    let (rounds, answer, _) = carry_out(plan, healthy(0));
    assert_eq!((rounds.len(), answer), (1, Ok(Outcome::Quarantined)));

    let kv_only = config(&[(bindings::SINKS, "kv")]);
    let plan = decide(&kv_only, &body).unwrap();
    assert!(plan.kv.unwrap().key.starts_with(layout::QUARANTINE));

    let reject = config(&[(bindings::PAYLOAD_POLICY, "reject")]);
    assert!(matches!(
        decide(&reject, &body),
        Err(Refusal::InvalidPayload(_))
    ));
    let unknown = self::body("note.added", "{}");
    assert_eq!(
        decide(&reject, &unknown).unwrap_err(),
        Refusal::UnknownEvent {
            name: "note.added".into()
        }
    );
    let plan = decide(&config(&[]), &unknown).unwrap();
    assert_eq!(plan.quarantine.unwrap().kind, "unknown event");
}

#[test]
fn routes_decide_the_sinks_and_nothing_routed_is_ignored() {
    let ignored = config(&[(bindings::ROUTES, r#"[{"events":["case.*"],"to":["d1"]}]"#)]);
    let plan = decide(&ignored, &body("run.deleted", r#"{"id":1}"#)).unwrap();
    let (rounds, answer, ingest) = carry_out(plan, healthy(0));
    assert_eq!((rounds.len(), answer), (0, Ok(Outcome::Ignored)));
    assert!(
        ingest.after_answer().is_none(),
        "nothing stored, nothing marked"
    );

    let d1_only = config(&[(bindings::ROUTES, r#"[{"to":["d1"]}]"#)]);
    let plan = decide(&d1_only, &body("run.deleted", r#"{"id":1}"#)).unwrap();
    assert!(plan.queue.is_none());
    assert_eq!(plan.record.unwrap().forward, Forward::None);

    let queue_only = config(&[
        (bindings::SINKS, "queue"),
        (bindings::PAYLOAD_POLICY, "reject"),
    ]);
    let large = body(
        "run.deleted",
        &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(INLINE_BODY_LIMIT)),
    );
    let plan = decide(&queue_only, &large).unwrap();
    assert!(
        plan.kv.is_some(),
        "KV is bound: the consumer reads the body there"
    );
    assert!(plan.queue.unwrap().body.is_none());
}
