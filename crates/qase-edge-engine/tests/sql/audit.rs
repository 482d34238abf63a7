//! Scenario 14: the audit log (`migrations/0007_audit.sql`): each call's
//! row written and read back with the engine's types, keyset pages newest
//! first without repeat or gap, and the sweep's delete past the retention
//! only.

use engine::api::audit::{self, Action, AuditQuery, AuditRow};
use engine::api::auth::{Credential, Principal, Role, Scope};

use super::support::Db;

const NOW: u64 = 1_700_000_000_000;

fn principal(name: &str, credential: Credential, role: Role) -> Principal {
    Principal {
        name: name.into(),
        credential,
        role,
        scope: Scope::All,
    }
}

fn query(limit: usize, before: Option<u64>) -> AuditQuery {
    AuditQuery { limit, before }
}

#[test]
fn each_call_is_one_row_paged_newest_first_and_pruned_past_the_retention_only() {
    let db = Db::new();
    let calls = [
        (
            principal("admin", Credential::AdminToken, Role::Operator),
            Action::ReplayEvent,
            202,
        ),
        (
            principal("vic@example.com", Credential::AccessUser, Role::Viewer),
            Action::DeleteEvent,
            403,
        ),
        (
            principal("ci.access", Credential::AccessService, Role::Operator),
            Action::BulkReplay,
            202,
        ),
        (
            principal("ci", Credential::ApiToken, Role::Operator),
            Action::PauseDestination,
            200,
        ),
        (
            principal("ci", Credential::ApiToken, Role::Operator),
            Action::ResumeDestination,
            200,
        ),
    ];
    for (n, (who, action, status)) in calls.iter().enumerate() {
        let at = NOW + n as u64 * 1000;
        let target = audit::target(Some("evt_1"), Some("destination=ci"), Some("{}"));
        assert_eq!(
            db.changes(
                &built!(audit::insert(who, *action, &target, *status, at)),
                None
            ),
            1
        );
    }

    let first: Vec<AuditRow> = db.rows(&built!(audit::AuditQuery::statement(&query(2, None))));
    let page = query(2, None).page(first);
    let actors: Vec<&str> = page.entries.iter().map(|r| r.actor.as_str()).collect();
    assert_eq!(actors, ["ci", "ci"]);
    assert_eq!(page.entries[0].action, Action::ResumeDestination);
    let mut seen: Vec<AuditRow> = page.entries.clone();
    let mut cursor = page.cursor.clone();
    while let Some(next) = cursor {
        let q = query(2, Some(next.parse().unwrap()));
        let page = q.page(db.rows(&built!(audit::AuditQuery::statement(&q))));
        seen.extend(page.entries);
        cursor = page.cursor;
    }
    assert_eq!(seen.len(), calls.len(), "every row once");
    let viewer = &seen[3];
    assert_eq!(
        (
            viewer.actor.as_str(),
            viewer.credential,
            viewer.role,
            viewer.action,
            viewer.status
        ),
        (
            "vic@example.com",
            Credential::AccessUser,
            Role::Viewer,
            Action::DeleteEvent,
            403
        )
    );
    assert_eq!(viewer.target, "evt_1 destination=ci {}");
    assert_eq!(viewer.at, NOW + 1000);

    // Past the retention only: the rows at and after the cutoff stay.
    assert_eq!(
        db.changes(&built!(audit::delete_expired(NOW + 2000)), None),
        2
    );
    let left: Vec<AuditRow> = db.rows(&audit::AuditQuery::statement(&query(50, None)));
    assert!(left.iter().all(|r| r.at >= NOW + 2000) && left.len() == 3);
}

/// This file's scenarios, for the coverage check.
pub const SCENARIOS: &[fn()] =
    &[each_call_is_one_row_paged_newest_first_and_pruned_past_the_retention_only];
