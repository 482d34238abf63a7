//! `qase-hook api`: the qase-edge operator API from a terminal. Tables by
//! default, the API's JSON with `--json`.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

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

/// Which events: the listing's filters, shared by `list`, `export` and
/// `replay-all`.
#[derive(Args, Default, Clone)]
struct Filters {
    /// Only this project code.
    #[arg(long)]
    project: Option<String>,
    /// Only events matching this name or glob (`run.*`).
    #[arg(long)]
    event: Option<String>,
    /// `accepted` or `quarantined`.
    #[arg(long, alias = "status")]
    outcome: Option<String>,
    /// Received at or after (Unix seconds).
    #[arg(long)]
    since: Option<u64>,
    /// Received before (Unix seconds).
    #[arg(long)]
    until: Option<u64>,
    /// Only events whose payload names this run id.
    #[arg(long)]
    run: Option<u64>,
    /// ... this case id.
    #[arg(long)]
    case: Option<u64>,
    /// ... this defect id.
    #[arg(long)]
    defect: Option<u64>,
    /// ... this plan id.
    #[arg(long)]
    plan: Option<u64>,
    /// ... this milestone id.
    #[arg(long)]
    milestone: Option<u64>,
    /// Only events with a delivery to this destination.
    #[arg(long = "to")]
    destination: Option<String>,
    /// Only events with a delivery in this state: delivered, retrying, dead.
    #[arg(long)]
    state: Option<String>,
}

impl Filters {
    /// The filters set, as the API names them.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let number = |n: Option<u64>| n.map(|n| n.to_string());
        [
            ("project", self.project.clone()),
            ("event", self.event.clone()),
            ("outcome", self.outcome.clone()),
            ("since", number(self.since)),
            ("until", number(self.until)),
            ("run", number(self.run)),
            ("case", number(self.case)),
            ("defect", number(self.defect)),
            ("plan", number(self.plan)),
            ("milestone", number(self.milestone)),
            ("destination", self.destination.clone()),
            ("state", self.state.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// The filters as a `POST /api/replay` body's fields.
    fn object(&self) -> Map<String, Value> {
        self.pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect()
    }
}

#[derive(Subcommand)]
enum ApiCommand {
    /// List stored events, newest first.
    List {
        #[command(flatten)]
        filters: Filters,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one event: its row, delivery per destination, body.
    Get {
        /// The event id.
        id: String,
        /// Print only the body, exactly as received.
        #[arg(long)]
        body: bool,
    },
    /// Delete an event and its delivery states.
    Delete {
        /// The event id.
        id: String,
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
    /// Replay every event the filters select, a call at a time (or count them).
    ReplayAll {
        #[command(flatten)]
        filters: Filters,
        /// Only these destinations (default: --to if given, else each event's matching ones).
        #[arg(long = "destination")]
        destinations: Vec<String>,
        /// Count what would be sent; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Events per call (1 to 500).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// List dead letters, most recently given up first.
    DeadLetters {
        /// Only this destination's.
        #[arg(long = "to")]
        destination: Option<String>,
        /// Only this project's.
        #[arg(long)]
        project: Option<String>,
        /// Given up at or after (Unix seconds).
        #[arg(long)]
        since: Option<u64>,
        /// Given up before (Unix seconds).
        #[arg(long)]
        until: Option<u64>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Counts per event, outcome, hour and entity over a time range.
    Stats {
        /// From (Unix seconds).
        #[arg(long)]
        since: u64,
        /// To, excluded (Unix seconds; at most 31 days after --since).
        #[arg(long)]
        until: u64,
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Copy a history kept in KV before D1 into D1 (every call until done).
    MigrateKv,
    /// A project's test runs, or one run with --run.
    Runs {
        /// The project code.
        #[arg(long)]
        project: String,
        /// Only this run: its status, counts and failed cases.
        #[arg(long)]
        run: Option<u64>,
        /// Only runs with this status: unknown, started, completed, aborted.
        #[arg(long)]
        status: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Every destination: its breaker state, what it holds, its last 24 hours.
    Destinations,
    /// Pause a destination: its events are held, not attempted, until resumed.
    Pause {
        /// The destination's name.
        name: String,
    },
    /// Resume a destination: what it held is delivered in order of arrival.
    Resume {
        /// The destination's name.
        name: String,
    },
    /// The watched projects (QASE_WATCH): last delivery, window, quiet or not.
    Watch,
    /// Print the selected events as NDJSON, one per line with its body.
    Export {
        #[command(flatten)]
        filters: Filters,
        /// Events per call.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow the continuation cursor to the end.
        #[arg(long)]
        all: bool,
        /// The cursor printed after the previous part.
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// An answer: its text, and the continuation cursor header if any.
struct Answer {
    text: String,
    next: Option<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Answer, Failure> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::usage(format!("cannot reach {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let next = response
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(Failure::refused(format!("{status}: {message}")));
        }
        Ok(Answer { text, next })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, Failure> {
        Ok(self
            .call(reqwest::Method::GET, path, query, None)
            .await?
            .text)
    }
}

/// The columns of `api runs`, one row a run (`run_row`).
const RUN_COLUMNS: &[&str] = &[
    "RUN",
    "STATUS",
    "TITLE",
    "PASSED",
    "FAILED",
    "BLOCKED",
    "PASS RATE",
];

/// A run as a table row.
fn run_row(run: &Value) -> Vec<String> {
    vec![
        s(&run["run"]),
        s(&run["status"]),
        s(&run["title"]),
        s(&run["counts"]["passed"]),
        s(&run["counts"]["failed"]),
        s(&run["counts"]["blocked"]),
        s(&run["pass_rate"]),
    ]
}

/// A destination as a table row.
fn destination_row(d: &Value) -> Vec<String> {
    let rate = match d["last_24h"]["success_rate"].as_f64() {
        Some(rate) => format!("{:.1} %", rate * 100.0),
        None => "-".to_owned(),
    };
    let state = match (&d["state"], d["paused_by_operator"] == true) {
        (Value::Null, _) => "unknown".to_owned(),
        (state, true) => format!("{} (operator)", s(state)),
        (state, false) => s(state),
    };
    vec![
        s(&d["name"]),
        s(&d["format"]),
        state,
        s(&d["held"]),
        s(&d["consecutive_failures"]),
        rate,
        s(&d["last_error"]),
        s(&d["reason"]),
    ]
}

/// `api pause NAME` and `api resume NAME`.
async fn force(client: &Client, json: bool, name: &str, what: &str) -> Result<(), Failure> {
    let path = format!("/api/destinations/{}/{what}", segment(name));
    let answer = client.call(reqwest::Method::POST, &path, &[], None).await?;
    print(json, &answer.text, |view| {
        let by = if view["paused_by_operator"] == true {
            " (by an operator)"
        } else {
            ""
        };
        println!(
            "{name}: {}{by}, {} held",
            s(&view["state"]),
            s(&view["held"])
        );
    })
}

/// A project code as one URL path segment.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn run(args: ApiArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start: {e}")))?;
    runtime.block_on(run_async(args))
}

fn with_page(
    mut query: Vec<(&'static str, String)>,
    limit: u32,
    cursor: Option<String>,
) -> Vec<(&'static str, String)> {
    query.push(("limit", limit.to_string()));
    query.extend(cursor.map(|c| ("cursor", c)));
    query
}

async fn run_async(args: ApiArgs) -> Result<(), Failure> {
    let token = args.token.clone().ok_or_else(|| {
        Failure::usage(
            "no token: pass --token or set QASE_ADMIN_TOKEN to the Worker's QASE_ADMIN_TOKEN",
        )
    })?;
    let client = Client {
        http: reqwest::Client::new(),
        base: args.url.trim_end_matches('/').to_owned(),
        token,
    };
    match args.command {
        ApiCommand::Destinations => {
            let text = client.get("/api/destinations", &[]).await?;
            print(args.json, &text, |answer| {
                table(
                    &[
                        "NAME",
                        "FORMAT",
                        "STATE",
                        "HELD",
                        "FAILURES",
                        "SUCCESS 24H",
                        "LAST ERROR",
                        "REASON",
                    ],
                    answer["destinations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(destination_row),
                );
            })
        }
        ApiCommand::Pause { name } | ApiCommand::Resume { name } if name.is_empty() => {
            Err(Failure::usage("a destination name is needed"))
        }
        ApiCommand::Pause { name } => force(&client, args.json, &name, "pause").await,
        ApiCommand::Resume { name } => force(&client, args.json, &name, "resume").await,
        ApiCommand::Watch => {
            let text = client.get("/health", &[]).await?;
            let health: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::refused(format!("/health is not JSON: {e}")))?;
            let watch = health["watch"].clone();
            let watch = if watch.is_array() { watch } else { json!([]) };
            print(args.json, &watch.to_string(), |watch| {
                table(
                    &[
                        "PROJECT",
                        "LAST DELIVERY (ms)",
                        "WINDOW (s)",
                        "STATE",
                        "ALERTED (ms)",
                    ],
                    watch.as_array().into_iter().flatten().map(|p| {
                        vec![
                            s(&p["project"]),
                            s(&p["last_delivery_at"]),
                            s(&p["window_seconds"]),
                            if p["quiet"] == true {
                                "quiet"
                            } else {
                                "receiving"
                            }
                            .to_owned(),
                            s(&p["alerted_at"]),
                        ]
                    }),
                );
            })
        }
        ApiCommand::Runs {
            project,
            run: Some(run),
            ..
        } => {
            let path = format!("/api/runs/{}/{run}", segment(&project));
            let text = client.get(&path, &[]).await?;
            print(args.json, &text, |view| {
                table(RUN_COLUMNS, [run_row(view)].into_iter());
                for failure in view["failures"]["items"].as_array().into_iter().flatten() {
                    println!(
                        "  {} {}-{} {}",
                        s(&failure["status"]),
                        project,
                        s(&failure["case_id"]),
                        s(&failure["title"])
                    );
                }
                println!("{}", s(&view["url"]));
            })
        }
        ApiCommand::Runs {
            project,
            run: None,
            status,
            limit,
            cursor,
        } => {
            let mut query = vec![("project", project)];
            query.extend(status.map(|status| ("status", status)));
            let text = client
                .get("/api/runs", &with_page(query, limit, cursor))
                .await?;
            print(args.json, &text, |page| {
                table(
                    RUN_COLUMNS,
                    page["runs"].as_array().into_iter().flatten().map(run_row),
                );
                cursor_line(page);
            })
        }
        ApiCommand::List {
            filters,
            limit,
            cursor,
        } => {
            let query = with_page(filters.pairs(), limit, cursor);
            let text = client.get("/api/events", &query).await?;
            print(args.json, &text, |page| {
                table(
                    &[
                        "ID",
                        "EVENT",
                        "PROJECT",
                        "RECEIVED (ms)",
                        "OUTCOME",
                        "RUN",
                        "DUPLICATES",
                    ],
                    page["events"].as_array().into_iter().flatten().map(|e| {
                        vec![
                            s(&e["id"]),
                            s(&e["event_name"]),
                            s(&e["project_code"]),
                            s(&e["received_at"]),
                            s(&e["status"]),
                            s(&e["run_id"]),
                            s(&e["duplicates"]),
                        ]
                    }),
                );
                cursor_line(page);
            })
        }
        ApiCommand::Get { id, body } => {
            if body {
                println!(
                    "{}",
                    client.get(&format!("/api/events/{id}/body"), &[]).await?
                );
                return Ok(());
            }
            let text = client.get(&format!("/api/events/{id}"), &[]).await?;
            print(args.json, &text, show_event)
        }
        ApiCommand::Delete { id } => {
            client
                .call(
                    reqwest::Method::DELETE,
                    &format!("/api/events/{id}"),
                    &[],
                    None,
                )
                .await?;
            if !args.json {
                println!("deleted {id}");
            }
            Ok(())
        }
        ApiCommand::Replay {
            id,
            destinations,
            dead,
        } => {
            let answer = if dead {
                let query: Vec<(&str, String)> = destinations
                    .first()
                    .map(|d| vec![("destination", d.clone())])
                    .unwrap_or_default();
                client
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/dead-letters/{id}/replay"),
                        &query,
                        None,
                    )
                    .await?
            } else {
                let body = (!destinations.is_empty())
                    .then(|| json!({ "destinations": destinations }).to_string());
                client
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/events/{id}/replay"),
                        &[],
                        body,
                    )
                    .await?
            };
            print(args.json, &answer.text, |replay| {
                let names: Vec<String> = replay["destinations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                println!("queued {} for {}", s(&replay["id"]), names.join(", "));
            })
        }
        ApiCommand::ReplayAll {
            filters,
            destinations,
            dry_run,
            limit,
        } => {
            let body = replay_all_body(&filters, &destinations, dry_run, limit, None);
            replay_all(&client, args.json, body).await
        }
        ApiCommand::DeadLetters {
            destination,
            project,
            since,
            until,
            limit,
            cursor,
        } => {
            let filters = [
                ("destination", destination),
                ("project", project),
                ("since", since.map(|n| n.to_string())),
                ("until", until.map(|n| n.to_string())),
            ];
            let query = with_page(
                filters
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect(),
                limit,
                cursor,
            );
            let text = client.get("/api/dead-letters", &query).await?;
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
        ApiCommand::Stats {
            since,
            until,
            project,
        } => {
            let mut query = vec![("since", since.to_string()), ("until", until.to_string())];
            query.extend(project.map(|p| ("project", p)));
            let text = client.get("/api/stats", &query).await?;
            print(args.json, &text, show_stats)
        }
        ApiCommand::MigrateKv => migrate(&client, args.json).await,
        ApiCommand::Export {
            filters,
            limit,
            all,
            mut cursor,
        } => loop {
            let query = with_page(filters.pairs(), limit, cursor.take());
            let answer = client
                .call(reqwest::Method::GET, "/api/export", &query, None)
                .await?;
            print!("{}", answer.text);
            match answer.next {
                Some(next) if all => cursor = Some(next),
                Some(next) => {
                    eprintln!("more: --cursor {next}");
                    return Ok(());
                }
                None => return Ok(()),
            }
        },
    }
}

/// The body of one `POST /api/replay` call.
fn replay_all_body(
    filters: &Filters,
    destinations: &[String],
    dry_run: bool,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Value {
    let mut body = filters.object();
    if !destinations.is_empty() {
        body.insert("destinations".into(), json!(destinations));
    }
    if dry_run {
        body.insert("dry_run".into(), Value::Bool(true));
    }
    if let Some(limit) = limit {
        body.insert("limit".into(), json!(limit));
    }
    if let Some(cursor) = cursor {
        body.insert("cursor".into(), json!(cursor));
    }
    Value::Object(body)
}

/// Calls `POST /api/replay` until its cursor runs out, adding up.
async fn replay_all(client: &Client, as_json: bool, mut body: Value) -> Result<(), Failure> {
    let (mut events, mut messages, mut skipped) = (0, 0, 0);
    loop {
        let answer = client
            .call(
                reqwest::Method::POST,
                "/api/replay",
                &[],
                Some(body.to_string()),
            )
            .await?;
        if as_json {
            println!("{}", answer.text);
        }
        let value: Value = serde_json::from_str(&answer.text)
            .map_err(|e| Failure::refused(format!("the API answered non-JSON: {e}")))?;
        events += value["events"].as_u64().unwrap_or(0);
        messages += value["messages"].as_u64().unwrap_or(0);
        skipped += value["skipped"].as_u64().unwrap_or(0);
        match value["cursor"].as_str() {
            Some(cursor) if value["dry_run"] != true => body["cursor"] = json!(cursor),
            _ => break,
        }
    }
    if !as_json {
        let verb = if body["dry_run"] == true {
            "would replay"
        } else {
            "replayed"
        };
        println!(
            "{verb} {events} events ({messages} messages); {skipped} match no enabled destination"
        );
    }
    Ok(())
}

/// Calls `POST /api/migrate-kv` until its cursor runs out, adding up.
async fn migrate(client: &Client, as_json: bool) -> Result<(), Failure> {
    let mut body = json!({});
    let (mut keys, mut events, mut deliveries, mut skipped) = (0, 0, 0, 0);
    loop {
        let answer = client
            .call(
                reqwest::Method::POST,
                "/api/migrate-kv",
                &[],
                Some(body.to_string()),
            )
            .await?;
        if as_json {
            println!("{}", answer.text);
        }
        let value: Value = serde_json::from_str(&answer.text)
            .map_err(|e| Failure::refused(format!("the API answered non-JSON: {e}")))?;
        keys += value["keys"].as_u64().unwrap_or(0);
        events += value["events"].as_u64().unwrap_or(0);
        deliveries += value["deliveries"].as_u64().unwrap_or(0);
        skipped += value["skipped"].as_u64().unwrap_or(0);
        match value["cursor"].as_str() {
            Some(cursor) => body = json!({ "cursor": cursor }),
            None => break,
        }
    }
    if !as_json {
        println!(
            "read {keys} KV keys: {events} events and {deliveries} delivery states copied into D1, {skipped} keys skipped"
        );
    }
    Ok(())
}

fn show_event(event: &Value) {
    for field in [
        "id",
        "event_name",
        "project_code",
        "received_at",
        "outcome",
        "reason",
        "duplicates",
        "run_id",
        "case_id",
        "defect_id",
        "plan_id",
        "milestone_id",
        "forward",
        "size",
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
}

fn show_stats(stats: &Value) {
    let totals = &stats["totals"];
    println!(
        "{} events: {} accepted, {} quarantined; {} duplicates\n",
        s(&totals["events"]),
        s(&totals["accepted"]),
        s(&totals["quarantined"]),
        s(&totals["duplicates"])
    );
    table(
        &["EVENT", "EVENTS", "ACCEPTED", "QUARANTINED"],
        stats["by_event"].as_array().into_iter().flatten().map(|e| {
            vec![
                s(&e["event_name"]),
                s(&e["events"]),
                s(&e["accepted"]),
                s(&e["quarantined"]),
            ]
        }),
    );
    println!();
    let entities: Vec<(&String, &Value)> = stats["by_entity_hour"]
        .as_object()
        .into_iter()
        .flatten()
        .collect();
    let mut headers = vec!["HOUR (UTC, Unix s)".to_owned(), "EVENTS".to_owned()];
    headers.extend(entities.iter().map(|(name, _)| name.to_uppercase()));
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let hours = stats["hours"].as_array().cloned().unwrap_or_default();
    table(
        &headers,
        hours.iter().enumerate().map(|(i, hour)| {
            let mut row = vec![s(hour), s(&stats["by_hour"][i])];
            row.extend(entities.iter().map(|(_, counts)| s(&counts[i])));
            row
        }),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_the_apis_parameters_and_replay_body() {
        let filters = Filters {
            project: Some("WEB".into()),
            outcome: Some("accepted".into()),
            run: Some(42),
            destination: Some("ci".into()),
            state: Some("dead".into()),
            ..Filters::default()
        };
        assert_eq!(
            filters.pairs(),
            vec![
                ("project", "WEB".to_owned()),
                ("outcome", "accepted".to_owned()),
                ("run", "42".to_owned()),
                ("destination", "ci".to_owned()),
                ("state", "dead".to_owned()),
            ]
        );
        let body = replay_all_body(&filters, &["ci".into()], true, Some(5), Some("c"));
        assert_eq!(
            body,
            json!({"project": "WEB", "outcome": "accepted", "run": "42", "destination": "ci",
                   "state": "dead", "destinations": ["ci"], "dry_run": true, "limit": 5,
                   "cursor": "c"})
        );
        assert_eq!(
            replay_all_body(&Filters::default(), &[], false, None, None),
            json!({})
        );
    }
}
