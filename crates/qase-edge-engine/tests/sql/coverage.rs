//! Scenario 12: every public engine function that returns statements is
//! called by a scenario, and every SQL text it built is run (see the
//! crate's `//!` for what this can and cannot see).

use std::collections::BTreeSet;
use std::path::Path;

use super::{audit, cron, destinations, history, metrics, runs, support, writes};

/// `module::function` of every `pub fn` of the engine whose return type
/// names `Statement` (`module`: the file's name, or its folder's for a
/// `mod.rs`), outside `mod tests`.
fn constructors() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let stem = path.file_stem().unwrap().to_str().unwrap();
                let module = match stem {
                    "mod" => folder.file_name().unwrap().to_str().unwrap(),
                    other => other,
                };
                let text = std::fs::read_to_string(&path).expect("a source file");
                for name in statement_functions(&text) {
                    found.insert(format!("{module}::{name}"));
                }
            }
        }
    }
    found
}

/// The `pub fn`s of `source` (before its `mod tests`) that return a
/// `Statement`, an array, `Vec` or `Option` of them.
fn statement_functions(source: &str) -> Vec<String> {
    let source = source.split("\nmod tests {").next().unwrap_or(source);
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("pub fn ") {
        let signature_start = &rest[at + "pub fn ".len()..];
        let end = signature_start.find('{').unwrap_or(signature_start.len());
        let signature = &signature_start[..end];
        let name: String = signature
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let returns = signature
            .rfind("->")
            .map_or("", |arrow| &signature[arrow..]);
        if returns
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|word| word == "Statement")
        {
            names.push(name);
        }
        rest = &signature_start[end..];
    }
    names
}

/// Every scenario, to run in one thread.
fn scenarios() -> Vec<fn()> {
    [
        writes::SCENARIOS,
        history::SCENARIOS,
        destinations::SCENARIOS,
        runs::SCENARIOS,
        cron::SCENARIOS,
        metrics::SCENARIOS,
        audit::SCENARIOS,
    ]
    .concat()
}

#[test]
fn the_scan_finds_statement_constructors_and_nothing_else() {
    let source = "pub fn a(x: u8) -> Statement {}\npub fn b(\n    f: impl Fn(u8) -> u8,\n) -> [Statement; 2] {}\n\
                  pub fn c() -> Option<Statement> {}\npub fn d(s: &Statement) {}\npub fn e() -> Statements {}\n\
                  #[cfg(test)]\nmod tests {\n    pub fn f() -> Statement {}\n}\n";
    assert_eq!(statement_functions(source), ["a", "b", "c"]);
    let found = constructors();
    for known in [
        "d1::record_event",
        "events::list_events",
        "api::statement",
        "ingest::plan",
    ] {
        assert_eq!(
            found.contains(known),
            known != "ingest::plan",
            "{known}: {found:?}"
        );
    }
}

#[test]
fn every_statement_the_engine_builds_is_executed() {
    support::reset();
    for scenario in scenarios() {
        scenario();
    }
    let (built, executed) = support::record();
    let called: BTreeSet<String> = built.iter().map(|(key, _)| key.clone()).collect();
    let constructors = constructors();
    let never_called: Vec<&String> = constructors.difference(&called).collect();
    assert!(
        never_called.is_empty(),
        "no scenario calls these through built!(..): {never_called:?}"
    );
    let unknown: Vec<&String> = called.difference(&constructors).collect();
    assert!(unknown.is_empty(), "not engine constructors: {unknown:?}");
    for (key, sql) in &built {
        assert!(executed.contains(sql), "{key} built, never run: {sql}");
    }
}
