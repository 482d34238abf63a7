//! The ids an event is about: the run, case, defect, plan and milestone its
//! payload names, so that a store can answer "everything about run 42".
//!
//! Read from the raw payload rather than the typed model, because the
//! question must be answerable for every stored event: quarantined ones
//! whose payload does not fit, and `result.*` events whose payloads Qase
//! does not document (a third party reads `run_id` or `run`, `case_id` or
//! `case`; see `events.md`). A value that is not a whole number in the
//! safe-integer range is no id, and is left out rather than guessed.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::MAX_SAFE_INTEGER;

/// The ids an event's payload names; `None` where it names none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subjects {
    /// The test run.
    pub run: Option<u64>,
    /// The test case.
    pub case: Option<u64>,
    /// The defect.
    pub defect: Option<u64>,
    /// The test plan.
    pub plan: Option<u64>,
    /// The milestone.
    pub milestone: Option<u64>,
}

/// The payload keys that may carry an id; every other key is skipped
/// without being parsed.
#[derive(Deserialize, Default)]
struct Keys<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    run_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    run: Option<&'a RawValue>,
    #[serde(borrow, default)]
    case_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    case: Option<&'a RawValue>,
    #[serde(borrow, default)]
    defect_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    plan_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    plan: Option<&'a RawValue>,
    #[serde(borrow, default)]
    milestone_id: Option<&'a RawValue>,
}

/// An id: a whole number, or an object with one (`"plan": {"id": 3}`).
fn id(value: Option<&RawValue>) -> Option<u64> {
    #[derive(Deserialize)]
    struct WithId {
        id: u64,
    }
    let text = value?.get();
    let id = serde_json::from_str::<u64>(text)
        .ok()
        // serde would also read a struct from an array (`[1]`): objects only.
        .or_else(|| {
            text.starts_with('{')
                .then(|| serde_json::from_str::<WithId>(text).ok())
                .flatten()
                .map(|v| v.id)
        })?;
    (id <= MAX_SAFE_INTEGER).then_some(id)
}

impl Subjects {
    /// The ids `payload` of event `event_name` names. The entity's own id is
    /// the payload's `id` (`run.completed`'s `id` is the run); references
    /// to other entities are read from their `*_id` keys (and from `plan`,
    /// an object or a number depending on the source, `events.md` D4).
    pub fn of(event_name: &str, payload: &RawValue) -> Subjects {
        let keys: Keys<'_> = serde_json::from_str(payload.get()).unwrap_or_default();
        let own = id(keys.id);
        let entity = event_name.split('.').next().unwrap_or("");
        let mut subjects = Subjects {
            run: id(keys.run_id).or_else(|| id(keys.run)),
            case: id(keys.case_id).or_else(|| id(keys.case)),
            defect: id(keys.defect_id),
            plan: id(keys.plan_id).or_else(|| id(keys.plan)),
            milestone: id(keys.milestone_id),
        };
        let slot = match entity {
            "run" => &mut subjects.run,
            "case" => &mut subjects.case,
            "defect" => &mut subjects.defect,
            "plan" => &mut subjects.plan,
            "milestone" => &mut subjects.milestone,
            _ => return subjects,
        };
        if own.is_some() {
            *slot = own;
        }
        subjects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(event_name: &str, payload: &str) -> Subjects {
        let raw: Box<RawValue> = serde_json::from_str(payload).unwrap();
        Subjects::of(event_name, &raw)
    }

    #[test]
    fn an_entitys_own_id_is_the_payloads_id() {
        assert_eq!(
            of("run.completed", r#"{"id": 42, "cases": 3}"#).run,
            Some(42)
        );
        assert_eq!(of("case.created", r#"{"id": 7}"#).case, Some(7));
        assert_eq!(of("defect.resolved", r#"{"id": 9}"#).defect, Some(9));
        assert_eq!(of("plan.deleted", r#"{"id": 2}"#).plan, Some(2));
        assert_eq!(of("milestone.updated", r#"{"id": 5}"#).milestone, Some(5));
        // An entity without a column keeps its id to itself.
        assert_eq!(of("suite.created", r#"{"id": 5}"#), Subjects::default());
    }

    #[test]
    fn references_are_read_from_their_keys_in_every_documented_shape() {
        let started = of(
            "run.started",
            r#"{"id": 1, "plan": {"id": 3, "title": "P"}}"#,
        );
        assert_eq!((started.run, started.plan), (Some(1), Some(3)));
        assert_eq!(of("run.started", r#"{"id": 1, "plan": 3}"#).plan, Some(3));
        assert_eq!(of("run.started", r#"{"id": 1, "plan": null}"#).plan, None);
        assert_eq!(
            of("run.started", r#"{"id": 1, "plan_id": 4}"#).plan,
            Some(4)
        );
        let case = of(
            "case.updated",
            r#"{"id": 7, "milestone_id": 2, "suite_id": 1}"#,
        );
        assert_eq!((case.case, case.milestone), (Some(7), Some(2)));
    }

    #[test]
    fn undocumented_result_events_give_their_run_and_case() {
        let result = of(
            "result.created",
            r#"{"id": 99, "run_id": 42, "case_id": 7}"#,
        );
        assert_eq!((result.run, result.case), (Some(42), Some(7)));
        let other_shape = of("result.created", r#"{"run": 42, "case": {"id": 7}}"#);
        assert_eq!((other_shape.run, other_shape.case), (Some(42), Some(7)));
    }

    #[test]
    fn what_is_not_a_safe_whole_number_is_no_id() {
        for payload in [
            r#"{"id": "42"}"#,
            r#"{"id": -1}"#,
            r#"{"id": 1.5}"#,
            r#"{"id": 9007199254740992}"#,
            r#"{"id": [1]}"#,
            r#"[]"#,
            r#"{"id": {"id": "x"}}"#,
        ] {
            assert_eq!(of("run.deleted", payload).run, None, "{payload}");
        }
        assert_eq!(
            of("run.deleted", r#"{"id": 9007199254740991}"#).run,
            Some(9_007_199_254_740_991)
        );
    }
}
