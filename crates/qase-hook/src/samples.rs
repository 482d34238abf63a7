//! Realistic deliveries for every known event, built from the core crate's
//! payload types so that they can only be what the model accepts.

use std::collections::BTreeMap;

use qase_webhooks::payload::*;
use qase_webhooks::EventName;
use serde_json::{json, Value};

/// A complete envelope for `event` in `project`, at `timestamp`, whose ids
/// are offset by `n` (so that a load run sends distinct deliveries).
pub fn envelope(event: &EventName, project: &str, timestamp: u64, n: u64) -> Value {
    json!({
        "event_name": event.as_str(),
        "timestamp": timestamp,
        "payload": payload(event, n),
        "team_member_id": 1,
        "project_code": project,
    })
}

fn user(name: &str) -> User {
    User {
        email: Some(format!("{}@example.com", name.to_lowercase())),
        name: Some(name.to_owned()),
    }
}

fn system(id: i64, title: &str) -> Option<SystemField> {
    Some(SystemField {
        id,
        title: Some(title.to_owned()),
        icon: None,
        color: None,
    })
}

fn test_case(id: u64) -> TestCase {
    TestCase {
        id,
        from_id: None,
        title: Some("Login with a valid password".into()),
        description: Some("The user signs in from the start page.".into()),
        preconditions: Some("A registered user".into()),
        postconditions: None,
        severity: system(4, "Normal"),
        priority: system(2, "Medium"),
        case_type: system(8, "Functional"),
        status: system(0, "Actual"),
        automation: system(1, "To be automated"),
        behavior: system(2, "Positive"),
        suite_id: Some(3),
        milestone_id: None,
        steps: vec![
            CaseStep {
                position: Some(1),
                action: Some("Open the sign-in page".into()),
                expected_result: Some("The form is shown".into()),
                data: Some(String::new()),
                shared: Some(false),
                attachments: vec![],
            },
            CaseStep {
                position: Some(2),
                action: Some("Submit valid credentials".into()),
                expected_result: Some("The dashboard opens".into()),
                data: Some("user@example.com".into()),
                shared: Some(false),
                attachments: vec![],
            },
        ],
        attachments: vec![],
        custom_fields: vec![CaseCustomField {
            id: 1,
            title: Some("Component".into()),
            field_type: Some(CustomFieldType::String),
            value: Some(json!("auth")),
        }],
    }
}

fn custom_field(id: u64) -> CustomField {
    CustomField {
        id,
        title: Some("Component".into()),
        is_required: Some(false),
        is_filterable: Some(true),
        is_visible: Some(true),
        default_value: Some(String::new()),
        value: Some("[]".into()),
        field_type: Some(CustomFieldType::String),
        entity: Some(CustomFieldEntity::Case),
    }
}

fn review_changed(id: u64) -> ReviewChanged {
    ReviewChanged {
        id,
        title: Some("Login with a valid password".into()),
        case_id: Some(100 + id),
        project: Some("DEMO".into()),
        data: Some(ReviewCaseSnapshot {
            id: Some(LooseId::Integer(100 + id)),
            title: Some("Login with a valid password".into()),
            other: serde_json::Map::new(),
        }),
        updated_by: Some(user("Ada")),
        approves: vec![],
        updated: Some("2026-11-27 10:00:00".into()),
    }
}

fn to_value(payload: impl serde::Serialize) -> Value {
    serde_json::to_value(payload).expect("payload types serialise")
}

/// The payload of `event`, or an object with just an id for events without
/// a documented payload.
pub fn payload(event: &EventName, n: u64) -> Value {
    let id = 1 + n;
    let hash = format!("{:040x}", 0x5eed_u64 + n);
    cases_and_suites(event, id)
        .or_else(|| plans_and_the_rest_of_the_repository(event, id, &hash))
        .or_else(|| runs_and_results(event, id))
        .or_else(|| defects_and_reviews(event, id))
        .unwrap_or_else(|| json!({ "id": id }))
}

/// The payload of a `case.*` or `suite.*` event.
fn cases_and_suites(event: &EventName, id: u64) -> Option<Value> {
    use EventName as N;
    Some(match event {
        N::CaseCreated | N::CaseUpdated | N::CaseDeleted => to_value(test_case(id)),
        N::CaseCloned => to_value(TestCase {
            from_id: Some(id),
            ..test_case(id + 1)
        }),
        N::SuiteCreated => to_value(SuiteCreated {
            id,
            title: "Authentication".into(),
            description: None,
            preconditions: None,
            parent_id: None,
        }),
        N::SuiteUpdated | N::SuiteDeleted => to_value(SuiteRef { id }),
        N::SuiteCloned => to_value(SuiteCloned {
            id: id + 1,
            from_id: id,
        }),
        _ => return None,
    })
}

/// The payload of a `plan.*`, `shared_step.*`, `milestone.*` or `custom_field.*` event.
fn plans_and_the_rest_of_the_repository(event: &EventName, id: u64, hash: &str) -> Option<Value> {
    use EventName as N;
    Some(match event {
        N::PlanCreated => to_value(PlanCreated {
            id,
            title: "Release smoke".into(),
            description: Some("Before each release".into()),
            cases: BTreeMap::from([(id.to_string(), json!(0))]),
        }),
        N::PlanUpdated => to_value(PlanUpdated {
            id,
            cases: BTreeMap::from([(id.to_string(), json!(0))]),
        }),
        N::PlanDeleted => to_value(PlanRef { id }),
        N::SharedStepCreated => to_value(SharedStepCreated {
            hash: hash.to_owned(),
            title: Some("Sign in".into()),
            steps: vec![SharedStepStep {
                hash: Some(hash.to_owned()),
                action: Some("Sign in as a user".into()),
                expected_result: Some("Signed in".into()),
                data: Some(String::new()),
                attachments: vec![],
            }],
            data: None,
        }),
        N::SharedStepUpdated | N::SharedStepDeleted => to_value(SharedStepRef {
            hash: hash.to_owned(),
        }),
        N::MilestoneCreated => to_value(MilestoneCreated {
            id,
            title: "Release 1.0".into(),
            description: None,
        }),
        N::MilestoneUpdated | N::MilestoneDeleted => to_value(MilestoneRef { id }),
        N::CustomFieldCreated | N::CustomFieldUpdated | N::CustomFieldDeleted => {
            to_value(custom_field(id))
        }
        _ => return None,
    })
}

/// The payload of a `run.*` or `result.*` event.
fn runs_and_results(event: &EventName, id: u64) -> Option<Value> {
    use EventName as N;
    Some(match event {
        N::RunStarted => to_value(RunStarted {
            id,
            title: "Nightly".into(),
            description: None,
            plan: Some(RunPlan {
                id: 1,
                title: Some("Release smoke".into()),
            }),
            cases_count: Some(12),
            environment: None,
        }),
        N::RunAborted => to_value(RunAborted {
            id,
            cases: 12,
            passed: 4,
            skipped: Some(1),
            failed: 1,
            untested: Some(6),
            blocked: 0,
            duration: 61_000,
        }),
        N::RunUpdated => to_value(RunUpdated {
            id,
            cases_added: Some(3),
            cases_count: None,
        }),
        N::RunDeleted => to_value(RunRef { id }),
        N::RunCompleted => to_value(RunCompleted {
            id,
            cases: 12,
            passed: 11,
            failed: 1,
            blocked: 0,
            skipped: None,
            untested: None,
            duration: 184_000,
        }),
        N::RunReportChanged => to_value(RunReportChanged { id, visible: true }),
        // Undocumented by Qase: the keys a third party observed.
        N::ResultCreated | N::ResultUpdated | N::ResultDeleted => {
            json!({"run_id": 1, "case_id": 100 + id, "status": "passed"})
        }
        _ => return None,
    })
}

/// The payload of a `defect.*` or `review.*` event.
fn defects_and_reviews(event: &EventName, id: u64) -> Option<Value> {
    use EventName as N;
    Some(match event {
        N::DefectCreated => to_value(DefectCreated {
            id,
            title: "Sign-in button does nothing".into(),
            severity: Some("major".into()),
            actual_result: Some("Nothing happens on click".into()),
            attachments: vec![],
        }),
        N::DefectUpdated | N::DefectResolved | N::DefectDeleted => to_value(DefectRef { id }),
        N::ReviewCreated => to_value(ReviewCreated {
            id,
            title: Some("Login with a valid password".into()),
            case_id: Some(100 + id),
            project: Some("DEMO".into()),
            created_by: Some(user("Ada")),
            created: Some("2026-11-27 09:00:00".into()),
        }),
        N::ReviewUpdated | N::ReviewReopened => to_value(review_changed(id)),
        N::ReviewApprovalStatusChanged => to_value(ReviewApprovalStatusChanged {
            id,
            status: ApprovalStatus::Approved,
            updated_by: Some(user("Grace")),
        }),
        N::ReviewReviewerAdded | N::ReviewReviewerRemoved => to_value(ReviewReviewer {
            id,
            reviewer: user("Grace"),
        }),
        N::ReviewMerged => to_value(ReviewMerged {
            id,
            merged_by: Some(user("Grace")),
        }),
        N::ReviewCommented => to_value(ReviewCommented {
            id,
            comment: "Step 2 needs the expected URL.".into(),
            commented_by: Some(user("Grace")),
        }),
        N::ReviewDeclined => to_value(ReviewDeclined {
            id,
            declined_by: Some(user("Grace")),
        }),
        N::ReviewDeleted => to_value(ReviewDeleted {
            id,
            deleted_by: Some(user("Ada")),
        }),
        _ => return None,
    })
}
