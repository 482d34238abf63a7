//! Discord webhooks: one embed, and `allowed_mentions` that allows none, so
//! that even a mention the escaping missed pings nobody.
//!
//! Limits (Discord's embed reference): title 256, description 4096, at most
//! 25 fields, field name 256 and value 1024, footer 2048, and 6000 for the
//! whole embed; the caps below keep a message far under the last.

use serde_json::{json, Value};

use super::message::Message;
use super::text::{escape, lines, rfc3339, Markup};

const TITLE_MAX: usize = 256;
const SUMMARY_MAX: usize = 500;
const VALUE_MAX: usize = 200;
const CODE_MAX: usize = 64;
const EVENT_MAX: usize = 128;
const MAX_FIELDS: usize = 25;

fn markdown(text: &str, max: usize) -> String {
    escape(Markup::DiscordMarkdown, text, max)
}

pub(crate) fn render(m: &Message) -> Value {
    let description = format!(
        "**{}** · {}",
        markdown(&m.headline, TITLE_MAX),
        markdown(&m.project, CODE_MAX)
    );
    let description = lines(
        description,
        [
            m.status.clone(),
            m.summary
                .as_deref()
                .map(|summary| markdown(summary, SUMMARY_MAX)),
        ],
    );
    let fields: Vec<Value> = m
        .facts
        .iter()
        .take(MAX_FIELDS)
        .map(|fact| {
            json!({
                "name": fact.label,
                "value": markdown(&fact.value, VALUE_MAX),
                "inline": true,
            })
        })
        .collect();
    let footer = format!(
        "Qase · {} · {}",
        escape(Markup::Plain, &m.project, CODE_MAX),
        escape(Markup::Plain, &m.event, EVENT_MAX)
    );
    let mut embed = json!({
        "title": markdown(m.title.as_deref().unwrap_or(&m.label), TITLE_MAX),
        "url": m.url,
        "description": description,
        "color": m.tone.rgb(),
        "footer": {"text": footer},
    });
    if !fields.is_empty() {
        embed["fields"] = Value::Array(fields);
    }
    if let Some(timestamp) = rfc3339(m.timestamp) {
        embed["timestamp"] = json!(timestamp);
    }
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
    })
}
