//! Slack incoming webhooks: Block Kit `blocks` with a top-level `text`,
//! which Slack shows in notifications and where blocks cannot be shown.
//!
//! Block Kit has no colour outside the legacy `attachments`, so the tone is
//! an emoji in the header. Limits (Slack's Block Kit reference): a `header`
//! is at most 150 characters, a `section` text 3000, a section has at most
//! 10 `fields` of 2000 each.

use serde_json::{json, Value};

use super::message::Message;
use super::text::{escape, lines, utc_minute, Markup};

const HEADER_MAX: usize = 150;
const TITLE_MAX: usize = 250;
const SUMMARY_MAX: usize = 500;
const VALUE_MAX: usize = 200;
const CODE_MAX: usize = 64;
const EVENT_MAX: usize = 128;
const MAX_FIELDS: usize = 10;

/// A URL inside `<url|label>`: `&` must be an entity there too; the URL
/// builders already percent-encode `<`, `>` and `|`.
fn url(url: &str) -> String {
    url.replace('&', "&amp;")
}

fn mrkdwn(text: &str, max: usize) -> String {
    escape(Markup::SlackMrkdwn, text, max)
}

pub(crate) fn render(m: &Message) -> Value {
    let title = mrkdwn(m.title.as_deref().unwrap_or(&m.label), TITLE_MAX);
    let project = mrkdwn(&m.project, CODE_MAX);
    let section = format!("*<{}|{title}>*", url(&m.url));
    let section = lines(
        section,
        [
            m.status.clone(),
            m.summary
                .as_deref()
                .map(|summary| mrkdwn(summary, SUMMARY_MAX)),
        ],
    );
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": escape(Markup::Plain, &format!("{} {}", m.tone.emoji(), m.headline), HEADER_MAX),
                "emoji": true,
            },
        }),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}),
    ];
    if !m.facts.is_empty() {
        let fields: Vec<Value> = m
            .facts
            .iter()
            .take(MAX_FIELDS)
            .map(|fact| {
                json!({
                    "type": "mrkdwn",
                    "text": format!("*{}*\n{}", fact.label, mrkdwn(&fact.value, VALUE_MAX)),
                })
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let mut context = format!("{project} · {}", mrkdwn(&m.event, EVENT_MAX));
    if let Some(time) = utc_minute(m.timestamp) {
        context.push_str(" · ");
        context.push_str(&time);
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    json!({
        "text": format!("{} {}: {title} ({project})", m.tone.emoji(), m.headline),
        "blocks": blocks,
    })
}
