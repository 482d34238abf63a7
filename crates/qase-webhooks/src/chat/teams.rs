//! Microsoft Teams Workflows webhooks ("Post to a channel when a webhook
//! request is received"): a `message` whose one attachment is an Adaptive
//! Card. The Office 365 connectors and their MessageCard are retired.
//!
//! Teams documents no per-field limit, only about 28 KB per message; the
//! caps below keep a card short. `TextBlock` and `FactSet` values are
//! Markdown and are escaped as such; Teams mentions need `msteams.entities`,
//! which these cards never carry.

use serde_json::{json, Value};

use super::message::{Message, Tone};
use super::text::{escape, utc_minute, Markup};

const TITLE_MAX: usize = 500;
const SUMMARY_MAX: usize = 1000;
const VALUE_MAX: usize = 300;
const CODE_MAX: usize = 64;
const EVENT_MAX: usize = 128;

fn markdown(text: &str, max: usize) -> String {
    escape(Markup::TeamsMarkdown, text, max)
}

fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Good => "Good",
        Tone::Bad => "Attention",
        Tone::Warning => "Warning",
        Tone::Neutral => "Accent",
    }
}

fn text_block(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

pub(crate) fn render(m: &Message) -> Value {
    let mut headline = text_block(markdown(&m.headline, TITLE_MAX));
    headline["weight"] = json!("Bolder");
    headline["size"] = json!("Medium");
    headline["color"] = json!(color(m.tone));
    let mut title = text_block(markdown(m.title.as_deref().unwrap_or(&m.label), TITLE_MAX));
    title["weight"] = json!("Bolder");
    let mut body = vec![headline, title];
    if let Some(status) = &m.status {
        let mut status = text_block(markdown(status, TITLE_MAX));
        status["color"] = json!(color(m.tone));
        body.push(status);
    }
    if !m.facts.is_empty() {
        let facts: Vec<Value> = m
            .facts
            .iter()
            .map(|fact| json!({"title": fact.label, "value": markdown(&fact.value, VALUE_MAX)}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(summary) = &m.summary {
        let mut summary = text_block(markdown(summary, SUMMARY_MAX));
        summary["isSubtle"] = json!(true);
        body.push(summary);
    }
    let mut context = format!(
        "{} · {}",
        markdown(&m.project, CODE_MAX),
        markdown(&m.event, EVENT_MAX)
    );
    if let Some(time) = utc_minute(m.timestamp) {
        context.push_str(" · ");
        context.push_str(&time);
    }
    let mut context = text_block(context);
    context["isSubtle"] = json!(true);
    context["size"] = json!("Small");
    body.push(context);
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": [{"type": "Action.OpenUrl", "title": "Open in Qase", "url": m.url}],
            },
        }],
    })
}
