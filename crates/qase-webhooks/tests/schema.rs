//! The committed JSON Schemas (schema/) match the Rust types.
//! 1. schema/envelope.json is the envelope's generated schema.
//! 2. schema/run-report.json is the run report's generated schema.
//! 3. schema/events/<event_name>.json exists for every documented event and
//!    is its payload's generated schema; no stray file is left behind.
//!
//! Regenerate after changing a type: `QASE_UPDATE_SCHEMAS=1 cargo test -p qase-webhooks --test schema`.

use std::path::{Path, PathBuf};

use qase_webhooks::schema::{envelope_schema, payload_schema, run_report_schema};
use qase_webhooks::EventName;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

fn check(path: &Path, schema: &impl serde::Serialize, drift: &mut Vec<String>) {
    let generated = serde_json::to_string_pretty(schema).unwrap() + "\n";
    if std::env::var_os("QASE_UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &generated).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == generated => {}
        Ok(_) => drift.push(format!("{} differs from the types", path.display())),
        Err(_) => drift.push(format!("{} is missing", path.display())),
    }
}

#[test]
fn committed_schemas_match_the_types() {
    let mut drift = Vec::new();
    check(
        &schema_dir().join("envelope.json"),
        &envelope_schema(),
        &mut drift,
    );
    check(
        &schema_dir().join("run-report.json"),
        &run_report_schema(),
        &mut drift,
    );
    let mut expected = Vec::new();
    for event in EventName::ALL {
        if let Some(schema) = payload_schema(event) {
            let file = format!("{event}.json");
            check(
                &schema_dir().join("events").join(&file),
                &schema,
                &mut drift,
            );
            expected.push(file);
        }
    }
    assert_eq!(expected.len(), 40);
    if let Ok(entries) = std::fs::read_dir(schema_dir().join("events")) {
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !expected.contains(&name) {
                drift.push(format!("schema/events/{name} belongs to no event"));
            }
        }
    }
    assert!(
        drift.is_empty(),
        "{}\nregenerate with QASE_UPDATE_SCHEMAS=1 cargo test -p qase-webhooks --test schema",
        drift.join("\n")
    );
}

#[test]
fn unknown_and_results_events_have_no_payload_schema() {
    assert!(payload_schema(&EventName::ResultCreated).is_none());
    assert!(payload_schema(&EventName::parse("x.y")).is_none());
}
