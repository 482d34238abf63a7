//! `qase-hook api`: the qase-edge operator API from a terminal. Tables by
//! default, the API's JSON with `--json`.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::Failure;

/// The local `wrangler dev` address.
pub const DEFAULT_API_URL: &str = "http://localhost:8787";

#[derive(Args)]
pub struct ApiArgs {
    /// The qase-edge base URL.
    #[arg(long, env = "QASE_HOOK_API_URL", default_value = DEFAULT_API_URL, global = true)]
    url: String,
    /// The operator token (the Worker's QASE_ADMIN_TOKEN).
    #[arg(long, env = "QASE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ApiCommand,
}

#[derive(Subcommand)]
enum ApiCommand {
    /// List stored events, newest first.
    List {
        /// Only this project code.
        #[arg(long)]
        project: Option<String>,
        /// Only events matching this name or glob (`run.*`).
        #[arg(long)]
        event: Option<String>,
        /// Received at or after (Unix seconds).
        #[arg(long)]
        since: Option<u64>,
        /// Received before (Unix seconds).
        #[arg(long)]
        until: Option<u64>,
        /// `accepted` or `quarantined`.
        #[arg(long)]
        status: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one event: metadata, delivery per destination, body.
    Get {
        /// The event id.
        id: String,
        /// Print only the body, exactly as received.
        #[arg(long)]
        body: bool,
    },
    /// Queue an event for delivery again (or its dead letters, with --dead).
    Replay {
        /// The event id.
        id: String,
        /// Only these destinations.
        #[arg(long = "destination")]
        destinations: Vec<String>,
        /// Replay the event's dead letters instead.
        #[arg(long)]
        dead: bool,
    },
    /// List dead letters.
    DeadLetters {
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub fn run(args: ApiArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start: {e}")))?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: ApiArgs) -> Result<(), Failure> {
    let token = args.token.clone().ok_or_else(|| {
        Failure::usage(
            "no token: pass --token or set QASE_ADMIN_TOKEN to the Worker's QASE_ADMIN_TOKEN",
        )
    })?;
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method,
                path: String,
                query: Vec<(&'static str, String)>,
                body: Option<String>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .query(&query);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        async {
            let response = request
                .send()
                .await
                .map_err(|e| Failure::usage(format!("cannot reach {base}: {e}")))?;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            if !(200..300).contains(&status) {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                return Err(Failure::refused(format!("{status}: {message}")));
            }
            Ok(text)
        }
    };
    match args.command {
        ApiCommand::List {
            project,
            event,
            since,
            until,
            status,
            limit,
            cursor,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            let optional = [
                ("project", project),
                ("event", event),
                ("since", since.map(|s| s.to_string())),
                ("until", until.map(|s| s.to_string())),
                ("status", status),
                ("cursor", cursor),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let text = call(reqwest::Method::GET, "/api/events".into(), query, None).await?;
            print(args.json, &text, |page| {
                table(
                    &["ID", "EVENT", "PROJECT", "RECEIVED (ms)", "STATUS"],
                    page["events"].as_array().into_iter().flatten().map(|e| {
                        vec![
                            s(&e["id"]),
                            s(&e["event_name"]),
                            s(&e["project_code"]),
                            s(&e["received_at"]),
                            s(&e["status"]),
                        ]
                    }),
                );
                cursor_line(page);
            })
        }
        ApiCommand::Get { id, body } => {
            if body {
                let text = call(
                    reqwest::Method::GET,
                    format!("/api/events/{id}/body"),
                    vec![],
                    None,
                )
                .await?;
                println!("{text}");
                return Ok(());
            }
            let text = call(
                reqwest::Method::GET,
                format!("/api/events/{id}"),
                vec![],
                None,
            )
            .await?;
            print(args.json, &text, |event| {
                for field in [
                    "id",
                    "event_name",
                    "project_code",
                    "received_at",
                    "status",
                    "reason",
                ] {
                    if !event[field].is_null() {
                        println!("{field:<14} {}", s(&event[field]));
                    }
                }
                println!();
                table(
                    &[
                        "DESTINATION",
                        "STATUS",
                        "ATTEMPTS",
                        "LAST STATUS",
                        "LAST ERROR",
                    ],
                    event["deliveries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            vec![
                                s(&d["destination"]),
                                s(&d["status"]),
                                s(&d["attempts"]),
                                s(&d["last_status"]),
                                s(&d["last_error"]),
                            ]
                        }),
                );
                println!(
                    "\n{}",
                    serde_json::to_string_pretty(&event["body"]).unwrap_or_default()
                );
            })
        }
        ApiCommand::Replay {
            id,
            destinations,
            dead,
        } => {
            let text = if dead {
                let query = destinations
                    .first()
                    .map(|d| vec![("destination", d.clone())])
                    .unwrap_or_default();
                call(
                    reqwest::Method::POST,
                    format!("/api/dead-letters/{id}/replay"),
                    query,
                    None,
                )
                .await?
            } else {
                let body = (!destinations.is_empty())
                    .then(|| serde_json::json!({ "destinations": destinations }).to_string());
                call(
                    reqwest::Method::POST,
                    format!("/api/events/{id}/replay"),
                    vec![],
                    body,
                )
                .await?
            };
            print(args.json, &text, |replay| {
                let names: Vec<String> = replay["destinations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                println!("queued {} for {}", s(&replay["id"]), names.join(", "));
            })
        }
        ApiCommand::DeadLetters { limit, cursor } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(cursor) = cursor {
                query.push(("cursor", cursor));
            }
            let text = call(
                reqwest::Method::GET,
                "/api/dead-letters".into(),
                query,
                None,
            )
            .await?;
            print(args.json, &text, |page| {
                table(
                    &[
                        "ID",
                        "DESTINATION",
                        "EVENT",
                        "ATTEMPTS",
                        "LAST STATUS",
                        "REASON",
                    ],
                    page["dead_letters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            vec![
                                s(&d["id"]),
                                s(&d["destination"]),
                                s(&d["event_name"]),
                                s(&d["attempts"]),
                                s(&d["last_status"]),
                                s(&d["reason"]),
                            ]
                        }),
                );
                cursor_line(page);
            })
        }
    }
}

/// A JSON value as table text.
fn s(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn print(json: bool, text: &str, human: impl FnOnce(&Value)) -> Result<(), Failure> {
    if json {
        println!("{text}");
        return Ok(());
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::refused(format!("the API answered non-JSON: {e}")))?;
    human(&value);
    Ok(())
}

fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    if rows.is_empty() {
        println!("(none)");
    }
    for row in rows {
        line(row);
    }
}

fn cursor_line(page: &Value) {
    if let Some(cursor) = page["cursor"].as_str() {
        println!("\nmore: --cursor {cursor}");
    }
}
