//! Chat messages (`qase_webhooks::chat`), compared with golden files.
//! 1. Every format renders run.started, run.completed (with and without the
//!    fields Qase does not document), run.aborted, defect.created,
//!    defect.resolved, case.created, review.created, review.merged,
//!    review.approval_status_changed, milestone.created, plan.created, a
//!    generic event (suite.deleted), result.created, an unknown event and a
//!    case with a hostile title exactly as in `tests/golden/chat/{format}/`.
//!    `UPDATE_GOLDEN=1 cargo test -p qase-webhooks --test chat` rewrites them.
//! 2. Each body has its service's essentials (Slack `blocks` and `text`,
//!    Teams' Adaptive Card attachment, Discord `embeds` with no mentions
//!    allowed, Google Chat `cardsV2`) and stays within its length limits.
//! 3. Hostile text pings nobody and forms no markup, in the goldens and for
//!    any title (property test).
//! 4. Links: the app URL's trailing slash, another region, an odd project code.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use qase_webhooks::chat::DEFAULT_APP_URL;
use qase_webhooks::{render, ChatFormat, Envelope};
use serde_json::{json, Value};

const TIMESTAMP: u64 = 1_764_547_200; // 2025-12-01 00:00 UTC
const HOSTILE: &str = "<!channel> @everyone <img src=x onerror=alert(1)> *bold* [x](http://evil)";

/// The golden cases: file stem, event name, payload.
fn cases() -> Vec<(&'static str, &'static str, Value)> {
    let ada = json!({"email": "ada@example.com", "name": "Ada"});
    let grace = json!({"email": "grace@example.com", "name": "Grace"});
    vec![
        (
            "run.started",
            "run.started",
            json!({
                "id": 7, "title": "Nightly regression", "description": "All suites on staging",
                "plan": {"id": 3, "title": "Release smoke"}, "cases_count": 12, "environment": "staging"
            }),
        ),
        (
            "run.completed",
            "run.completed",
            json!({
                "id": 7, "cases": 12, "passed": 11, "failed": 1, "blocked": 0, "duration": 184_000
            }),
        ),
        (
            "run.completed.extras",
            "run.completed",
            json!({
                "id": 7, "title": "Nightly regression", "cases": 12, "passed": 9, "failed": 0,
                "blocked": 0, "skipped": 1, "untested": 0, "retest": 2, "duration": 3_725_000
            }),
        ),
        (
            "run.aborted",
            "run.aborted",
            json!({
                "id": 8, "cases": 12, "passed": 4, "skipped": 1, "failed": 0, "untested": 6,
                "blocked": 1, "duration": 61_000
            }),
        ),
        (
            "defect.created",
            "defect.created",
            json!({
                "id": 5, "title": "Sign-in button does nothing", "severity": "major",
                "actual_result": "Nothing happens on click.\nThe console shows a 500.", "attachments": []
            }),
        ),
        ("defect.resolved", "defect.resolved", json!({"id": 5})),
        (
            "case.created",
            "case.created",
            json!({
                "id": 12, "title": "Login with a valid password",
                "description": "The user signs in from the start page.",
                "severity": {"id": 4, "title": "Normal", "icon": "genderless", "color": "normal"},
                "priority": {"id": 2, "title": "Medium", "icon": "genderless", "color": "medium"},
                "type": {"id": 8, "title": "Functional"}, "suite_id": 3, "milestone_id": null,
                "steps": [], "attachments": [], "custom_fields": []
            }),
        ),
        (
            "case.created.hostile",
            "case.created",
            json!({"id": 13, "title": HOSTILE, "description": HOSTILE}),
        ),
        (
            "review.created",
            "review.created",
            json!({
                "id": 2, "title": "Login with a valid password", "case_id": 12, "project": "DEMO",
                "created_by": ada, "created": "2025-11-30 09:00:00"
            }),
        ),
        (
            "review.merged",
            "review.merged",
            json!({"id": 2, "merged_by": grace}),
        ),
        (
            "review.approval_status_changed",
            "review.approval_status_changed",
            json!({
                "id": 2, "status": "request changes", "updated_by": grace
            }),
        ),
        (
            "milestone.created",
            "milestone.created",
            json!({
                "id": 4, "title": "Release 1.0", "description": "Everything for the first release"
            }),
        ),
        (
            "plan.created",
            "plan.created",
            json!({
                "id": 3, "title": "Release smoke", "description": "Before each release",
                "cases": {"12": 0, "13": 0}
            }),
        ),
        ("suite.deleted", "suite.deleted", json!({"id": 9})),
        (
            "result.created",
            "result.created",
            json!({"run_id": 7, "case_id": 12, "status": "passed"}),
        ),
        (
            "unknown",
            "note.added",
            json!({"id": 1, "title": "A later event"}),
        ),
    ]
}

fn body(event: &str, project: &str, payload: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_name": event,
        "timestamp": TIMESTAMP,
        "payload": payload,
        "team_member_id": 1,
        "project_code": project,
    }))
    .unwrap()
}

fn rendered(
    format: ChatFormat,
    event: &str,
    project: &str,
    payload: &Value,
    app_url: &str,
) -> Value {
    let body = body(event, project, payload);
    let envelope = Envelope::parse(&body).expect("a valid envelope");
    let typed = envelope.event().expect("the payload fits");
    render(format, &envelope, &typed, app_url)
}

fn golden_path(format: ChatFormat, stem: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/chat")
        .join(format.as_str())
        .join(format!("{stem}.json"))
}

/// Every string in `value`, recursively.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
}

/// The service's schema essentials and length limits.
fn check_essentials(format: ChatFormat, body: &Value) {
    match format {
        ChatFormat::Slack => {
            let blocks = body["blocks"].as_array().expect("blocks is an array");
            assert!(!blocks.is_empty());
            assert!(units(text_at(body, "/text")) <= 3000);
            for block in blocks {
                match block["type"].as_str().unwrap() {
                    "header" => assert!(units(text_at(block, "/text/text")) <= 150),
                    "section" => {
                        if let Some(text) = block.pointer("/text/text").and_then(Value::as_str) {
                            assert!(units(text) <= 3000);
                        }
                        if let Some(fields) = block["fields"].as_array() {
                            assert!(fields.len() <= 10);
                            for field in fields {
                                assert!(units(text_at(field, "/text")) <= 2000);
                            }
                        }
                    }
                    "context" => assert!(units(text_at(block, "/elements/0/text")) <= 3000),
                    other => panic!("unexpected block {other}"),
                }
            }
        }
        ChatFormat::Teams => {
            assert_eq!(body["type"], "message");
            let attachment = &body["attachments"][0];
            assert_eq!(
                attachment["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
            assert_eq!(attachment["content"]["type"], "AdaptiveCard");
            assert!(attachment["content"]["body"]
                .as_array()
                .is_some_and(|b| !b.is_empty()));
            assert!(body
                .pointer("/attachments/0/content/msteams/entities")
                .is_none());
        }
        ChatFormat::Discord => {
            assert_eq!(body["allowed_mentions"], json!({"parse": []}));
            let embeds = body["embeds"].as_array().expect("embeds is an array");
            assert_eq!(embeds.len(), 1);
            let embed = &embeds[0];
            let title = units(text_at(embed, "/title"));
            let description = units(text_at(embed, "/description"));
            let footer = units(text_at(embed, "/footer/text"));
            assert!(title <= 256 && description <= 4096 && footer <= 2048);
            let fields = embed["fields"].as_array().map_or(&[][..], Vec::as_slice);
            assert!(fields.len() <= 25);
            let mut total = title + description + footer;
            for field in fields {
                let (name, value) = (
                    units(text_at(field, "/name")),
                    units(text_at(field, "/value")),
                );
                assert!(name <= 256 && (1..=1024).contains(&value));
                total += name + value;
            }
            assert!(total <= 6000);
        }
        ChatFormat::GoogleChat => {
            let cards = body["cardsV2"].as_array().expect("cardsV2 is an array");
            assert_eq!(cards.len(), 1);
            let widgets = cards[0]
                .pointer("/card/sections/0/widgets")
                .and_then(Value::as_array);
            assert!(widgets.is_some_and(|w| !w.is_empty() && w.len() <= 100));
            assert!(!text_at(&cards[0], "/card/header/title").is_empty());
        }
    }
}

/// A `<` that a service would read as markup: not escaped by a backslash
/// (Discord, Teams) and followed by `!`, `@`, `#` or a letter.
fn live_angle(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len()).find_map(|i| {
        let escaped = i > 0 && chars[i - 1] == '\\';
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        (chars[i] == '<' && !escaped && (matches!(next, '!' | '@' | '#') || next.is_alphabetic()))
            .then(|| chars[i..].iter().take(12).collect())
    })
}

/// Every string in `value` with whether the service shows it as plain text
/// (parsing neither markup nor mentions): Slack `plain_text` objects, a
/// Discord footer, a Google Chat card header.
fn strings_with_kind(value: &Value, pointer: &str, out: &mut Vec<(String, bool)>) {
    match value {
        Value::String(s) => {
            let plain = ["/footer/text", "/header/title", "/header/subtitle"]
                .iter()
                .any(|end| pointer.ends_with(end));
            out.push((s.clone(), plain));
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                strings_with_kind(v, &format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, v) in map {
                if key == "text" && map.get("type") == Some(&json!("plain_text")) {
                    out.push((v.as_str().unwrap().to_owned(), true));
                } else {
                    strings_with_kind(v, &format!("{pointer}/{key}"), out);
                }
            }
        }
        _ => {}
    }
}

/// No text in `body` pings anyone or forms markup from the hostile title.
fn check_no_live_mention(format: ChatFormat, body: &Value) {
    let mut all = Vec::new();
    strings_with_kind(body, "", &mut all);
    for (s, plain) in &all {
        let lower = s.to_lowercase();
        for word in ["@everyone", "@here", "@channel"] {
            assert!(!lower.contains(word), "{format}: live {word} in {s:?}");
        }
        if *plain {
            continue;
        }
        match format {
            ChatFormat::Slack => {
                for start in ["<!", "<@", "<#"] {
                    assert!(!s.contains(start), "{format}: live {start} in {s:?}");
                }
            }
            ChatFormat::Discord | ChatFormat::Teams => {
                assert_eq!(live_angle(s), None, "{format}: live markup in {s:?}");
                assert!(
                    !s.contains("[x](http://evil)"),
                    "{format}: live link in {s:?}"
                );
            }
            ChatFormat::GoogleChat => {
                // The only tags are the renderer's own.
                let stripped = s
                    .replace("<b>", "")
                    .replace("</b>", "")
                    .replace("<a href=", "")
                    .replace("</a>", "")
                    .replace("<font color=", "")
                    .replace("</font>", "");
                assert_eq!(
                    live_angle(&stripped),
                    None,
                    "{format}: live markup in {s:?}"
                );
            }
        }
    }
}

#[test]
fn every_format_and_event_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for format in ChatFormat::ALL {
        for (stem, event, payload) in cases() {
            let body = rendered(format, event, "DEMO", &payload, DEFAULT_APP_URL);
            check_essentials(format, &body);
            check_no_live_mention(format, &body);
            let path = golden_path(format, stem);
            let pretty = serde_json::to_string_pretty(&body).unwrap() + "\n";
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &pretty).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(golden) if golden == pretty => {}
                Ok(_) => mismatches.push(format!("{} differs; now:\n{pretty}", path.display())),
                Err(e) => mismatches.push(format!("{}: {e}", path.display())),
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} golden file(s) differ (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn no_golden_file_is_left_over() {
    let stems: Vec<String> = cases()
        .iter()
        .map(|(stem, ..)| format!("{stem}.json"))
        .collect();
    for format in ChatFormat::ALL {
        let dir = golden_path(format, "x").parent().unwrap().to_owned();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                stems.contains(&name),
                "{}/{name} has no case",
                dir.display()
            );
        }
    }
}

#[test]
fn the_hostile_title_is_shown_escaped_not_dropped() {
    let payload = json!({"id": 13, "title": HOSTILE});
    let shown = |format| {
        let body = rendered(format, "case.created", "DEMO", &payload, DEFAULT_APP_URL);
        let mut all = Vec::new();
        strings(&body, &mut all);
        all.join("\n")
    };
    assert!(shown(ChatFormat::Slack).contains("&lt;!channel&gt; @\u{200B}everyone &lt;img"));
    assert!(shown(ChatFormat::Discord).contains("\\<!channel\\> @\u{200B}everyone \\<img"));
    assert!(shown(ChatFormat::Discord).contains(r"\*bold\* \[x\](http://evil)"));
    assert!(shown(ChatFormat::Teams).contains(r"\<img src=x onerror=alert(1)\>"));
    assert!(shown(ChatFormat::GoogleChat).contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn links_follow_the_app_url_and_encode_the_project() {
    let payload =
        json!({"id": 7, "cases": 1, "passed": 1, "failed": 0, "blocked": 0, "duration": 0});
    let body = rendered(
        ChatFormat::Discord,
        "run.completed",
        "DEMO",
        &payload,
        "https://qase.eu.example/",
    );
    assert_eq!(
        body["embeds"][0]["url"],
        "https://qase.eu.example/run/DEMO/dashboard/7"
    );
    let body = rendered(
        ChatFormat::Teams,
        "run.completed",
        "a/b?c",
        &payload,
        DEFAULT_APP_URL,
    );
    assert_eq!(
        body.pointer("/attachments/0/content/actions/0/url")
            .unwrap(),
        "https://app.qase.io/run/a%2Fb%3Fc/dashboard/7"
    );
    let body = rendered(
        ChatFormat::GoogleChat,
        "case.created",
        "DEMO",
        &json!({"id": 3}),
        "javascript:alert(1)",
    );
    assert_eq!(
        body.pointer("/cardsV2/0/card/sections/0/widgets/0/textParagraph/text")
            .unwrap(),
        "<b><a href=\"https://app.qase.io/case/DEMO-3\">DEMO-3</a></b>"
    );
}

#[test]
fn a_long_title_is_cut_to_each_services_limit() {
    let payload = json!({"id": 1, "title": "&<".repeat(5000), "description": "x".repeat(50_000)});
    for format in ChatFormat::ALL {
        let body = rendered(format, "case.created", "DEMO", &payload, DEFAULT_APP_URL);
        check_essentials(format, &body);
        let mut all = Vec::new();
        strings(&body, &mut all);
        assert!(
            all.iter().any(|s| s.contains('…')),
            "{format}: nothing was cut"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_title_pings_nobody_and_fits(
        title in r"(<!channel>|<!here>|@everyone|@here|<@U123>|<#C1>|<users/all>|<at>x</at>|\[a\]\(http://e\)|[<>&*_~`|\\#@!\[\]]|[a-zA-Z ]|\PC){0,300}",
        project in r"[A-Z0-9<>@&|/]{1,12}",
    ) {
        let severity = json!({"id": 1, "title": title});
        let payloads = [
            ("case.created", json!({"id": 1, "title": title, "description": title, "severity": severity})),
            ("defect.created", json!({"id": 1, "title": title, "actual_result": title, "severity": title})),
            ("review.created", json!({"id": 1, "title": title, "created_by": {"name": title}})),
            ("note.added", json!({"id": 1, "title": title})),
        ];
        for (event, payload) in &payloads {
            for format in ChatFormat::ALL {
                let body = rendered(format, event, &project, payload, DEFAULT_APP_URL);
                check_essentials(format, &body);
                check_no_live_mention(format, &body);
            }
        }
    }
}
