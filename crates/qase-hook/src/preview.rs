//! `qase-hook preview`: the exact chat message body qase-edge would post for
//! an event, from a generated delivery or a given one.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use qase_webhooks::chat::DEFAULT_APP_URL;
use qase_webhooks::{render, ChatFormat, Envelope};

use crate::{known_event, read_input, samples, Failure};

#[derive(Args)]
pub struct PreviewArgs {
    /// The chat service: slack, teams, discord or google_chat.
    #[arg(long, value_parser = parse_format)]
    format: ChatFormat,
    /// The event to generate, e.g. `run.completed`.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    event: Option<String>,
    /// Preview this delivery body instead (`-` for stdin).
    #[arg(long)]
    file: Option<String>,
    /// The project code of a generated delivery.
    #[arg(long, default_value = "DEMO")]
    project: String,
    /// The Qase app's address the links point to (QASE_APP_URL in qase-edge).
    #[arg(long, default_value = DEFAULT_APP_URL)]
    app_url: String,
}

fn parse_format(name: &str) -> Result<ChatFormat, String> {
    ChatFormat::parse(name).ok_or_else(|| {
        let names: Vec<&str> = ChatFormat::ALL.iter().map(|f| f.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// The pretty JSON body for `format` from a delivery's raw bytes.
pub fn preview(format: ChatFormat, body: &[u8], app_url: &str) -> Result<String, Failure> {
    let envelope =
        Envelope::parse(body).map_err(|e| Failure::refused(format!("not a Qase delivery: {e}")))?;
    let event = envelope
        .event()
        .map_err(|e| Failure::refused(e.to_string()))?;
    let message = render(format, &envelope, &event, app_url);
    Ok(serde_json::to_string_pretty(&message).expect("JSON values serialise"))
}

pub fn run(args: PreviewArgs) -> Result<(), Failure> {
    let body = match (&args.file, &args.event) {
        (Some(file), _) => read_input(file)?,
        (None, Some(event)) => {
            let name = known_event(event)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            serde_json::to_vec(&samples::envelope(&name, &args.project, now, 0))
                .expect("JSON values serialise")
        }
        (None, None) => return Err(Failure::usage("name an event or give --file")),
    };
    println!("{}", preview(args.format, &body, &args.app_url)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qase_webhooks::EventName;

    #[test]
    fn every_generated_event_previews_in_every_format() {
        for event in EventName::ALL {
            let body =
                serde_json::to_vec(&samples::envelope(event, "DEMO", 1_764_547_200, 0)).unwrap();
            for format in ChatFormat::ALL {
                let Ok(text) = preview(format, &body, DEFAULT_APP_URL) else {
                    panic!("{event} in {format} did not render");
                };
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                let essential = match format {
                    ChatFormat::Slack => value["blocks"].is_array() && value["text"].is_string(),
                    ChatFormat::Teams => {
                        value["attachments"][0]["contentType"]
                            == "application/vnd.microsoft.card.adaptive"
                    }
                    ChatFormat::Discord => value["embeds"].is_array(),
                    ChatFormat::GoogleChat => value["cardsV2"].is_array(),
                };
                assert!(essential, "{event} in {format}: {text}");
                assert!(
                    text.contains("https://app.qase.io/"),
                    "{event} in {format} has no link"
                );
            }
        }
    }

    #[test]
    fn a_body_that_is_not_a_delivery_is_refused() {
        let Err(failure) = preview(ChatFormat::Slack, b"{}", DEFAULT_APP_URL) else {
            panic!("accepted");
        };
        assert_eq!(failure.code, 1);
        assert!(parse_format("msteams").unwrap_err().contains("google_chat"));
    }
}
