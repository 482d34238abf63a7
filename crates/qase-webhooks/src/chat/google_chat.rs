//! Google Chat incoming webhooks: one card in `cardsV2`.
//!
//! Card text is Google Chat's small HTML subset (`<b>`, `<a href>`,
//! `<font color>`), so text from Qase is HTML-escaped, which also keeps
//! `<users/all>` from being a mention; the header and labels are plain
//! text. Google Chat allows 100 widgets a card and about 32 KB a message;
//! the caps below keep a card short.

use serde_json::{json, Value};

use super::message::Message;
use super::text::{escape, utc_minute, Markup};

const HEADER_MAX: usize = 200;
const TITLE_MAX: usize = 500;
const SUMMARY_MAX: usize = 1000;
const VALUE_MAX: usize = 300;
const CODE_MAX: usize = 64;
const EVENT_MAX: usize = 128;

fn html(text: &str, max: usize) -> String {
    escape(Markup::GoogleChatHtml, text, max)
}

pub(crate) fn render(m: &Message) -> Value {
    let title = html(m.title.as_deref().unwrap_or(&m.label), TITLE_MAX);
    let href = m.url.replace('&', "&amp;");
    let mut widgets = vec![json!({
        "textParagraph": {"text": format!("<b><a href=\"{href}\">{title}</a></b>")},
    })];
    if let Some(status) = &m.status {
        widgets.push(json!({
            "textParagraph": {
                "text": format!("<font color=\"{}\">{}</font>", m.tone.hex(), html(status, TITLE_MAX)),
            },
        }));
    }
    for fact in &m.facts {
        widgets.push(json!({
            "decoratedText": {"topLabel": fact.label, "text": html(&fact.value, VALUE_MAX)},
        }));
    }
    if let Some(summary) = &m.summary {
        widgets.push(json!({"textParagraph": {"text": html(summary, SUMMARY_MAX)}}));
    }
    let mut context = html(&m.event, EVENT_MAX);
    if let Some(time) = utc_minute(m.timestamp) {
        context.push_str(" · ");
        context.push_str(&time);
    }
    widgets.push(
        json!({"textParagraph": {"text": format!("<font color=\"#80868B\">{context}</font>")}}),
    );
    widgets.push(json!({
        "buttonList": {
            "buttons": [{"text": "Open in Qase", "onClick": {"openLink": {"url": m.url}}}],
        },
    }));
    json!({
        "cardsV2": [{
            "cardId": "qase",
            "card": {
                "header": {
                    "title": escape(Markup::Plain, &m.headline, HEADER_MAX),
                    "subtitle": escape(Markup::Plain, &m.project, CODE_MAX),
                },
                "sections": [{"widgets": widgets}],
            },
        }],
    })
}
