//! `qase-hook api`: the qase-edge operator API from a terminal. Tables by
//! default, the API's JSON with `--json`. The answers are read into the
//! engine's answer types, the ones the Worker writes ([`client`]), and
//! shown by [`show`].

use qase_webhooks::chat::path_segment;

mod client;
pub mod show;

use clap::{Args, Subcommand};
use engine::api::answers::{
    BulkReplayed, DeadLetterPage, DestinationPage, DryRun, EventPage, ExportLine, Forced,
    HealthWatch, Migrated, Replayed, RunPage, RunView,
};
use engine::api::audit::AuditPage;
use engine::api::auth::Me;
use serde_json::{json, Map, Value};

use crate::credential::CredentialArgs;
use crate::Failure;
use client::{decode, print, Client};

/// The local `wrangler dev` address.
pub const DEFAULT_API_URL: &str = "http://localhost:8787";

#[derive(Args)]
pub struct ApiArgs {
    /// The qase-edge base URL.
    #[arg(long, env = "QASE_HOOK_API_URL", default_value = DEFAULT_API_URL, global = true)]
    url: String,
    #[command(flatten)]
    credential: CredentialArgs,
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
    List(PageArgs),
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
    ReplayAll(ReplayAllArgs),
    /// List dead letters, most recently given up first.
    DeadLetters(DeadLetterArgs),
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
    Runs(RunsArgs),
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
    /// The watched projects (QASE_WATCH): last delivery, window, quiet or
    /// not; and each reconciled project's webhook: clear or suspected disabled.
    Watch,
    /// Print the selected events as NDJSON, one per line with its body.
    Export(ExportArgs),
    /// Print `GET /metrics`: the Prometheus text a scrape reads (`--token`
    /// may be the Worker's read-only QASE_METRICS_TOKEN).
    Metrics,
    /// The audit log: every state-changing call, newest first (operators).
    Audit {
        /// Page size (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The cursor printed after the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Who the credential is: its name, kind, role and projects.
    Me,
}

// `api list`'s arguments (no doc comment: clap would take it for the
// command's help over the variant's).
#[derive(Args)]
struct PageArgs {
    #[command(flatten)]
    filters: Filters,
    /// Page size.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The cursor printed after the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

// `api replay-all`'s arguments.
#[derive(Args)]
struct ReplayAllArgs {
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
}

// `api dead-letters`' arguments.
#[derive(Args)]
struct DeadLetterArgs {
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
}

impl DeadLetterArgs {
    /// The query of `GET /api/dead-letters`.
    fn query(self) -> Vec<(&'static str, String)> {
        let filters = [
            ("destination", self.destination),
            ("project", self.project),
            ("since", self.since.map(|n| n.to_string())),
            ("until", self.until.map(|n| n.to_string())),
        ];
        with_page(
            filters
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
            self.limit,
            self.cursor,
        )
    }
}

// `api runs`' arguments.
#[derive(Args)]
struct RunsArgs {
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
}

// `api export`'s arguments.
#[derive(Args)]
struct ExportArgs {
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
    let client = Client::new(&args)?;
    let json = args.json;
    match args.command {
        ApiCommand::Destinations => destinations(&client, json).await,
        ApiCommand::Pause { name } | ApiCommand::Resume { name } if name.is_empty() => {
            Err(Failure::usage("a destination name is needed"))
        }
        ApiCommand::Pause { name } => force(&client, json, &name, "pause").await,
        ApiCommand::Resume { name } => force(&client, json, &name, "resume").await,
        ApiCommand::Watch => watch(&client, json).await,
        ApiCommand::Audit { limit, cursor } => audit(&client, json, limit, cursor).await,
        ApiCommand::Me => me(&client, json).await,
        ApiCommand::Metrics => metrics(&client).await,
        ApiCommand::Runs(runs) => self::runs(&client, json, runs).await,
        ApiCommand::List(page) => list(&client, json, page).await,
        ApiCommand::Get { id, body } => get(&client, json, &id, body).await,
        ApiCommand::Delete { id } => delete(&client, json, &id).await,
        ApiCommand::Replay {
            id,
            destinations,
            dead,
        } => replay(&client, json, &id, destinations, dead).await,
        ApiCommand::ReplayAll(all) => {
            let body = replay_all_body(
                &all.filters,
                &all.destinations,
                all.dry_run,
                all.limit,
                None,
            );
            replay_all(&client, json, body).await
        }
        ApiCommand::DeadLetters(dead) => {
            let text = client.get("/api/dead-letters", &dead.query()).await?;
            print(json, &text, |page: DeadLetterPage| {
                show::table(
                    show::DEAD_LETTER_COLUMNS,
                    page.dead_letters.iter().map(show::dead_letter_row),
                );
                show::cursor_line(page.cursor.as_deref());
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
            print(json, &text, show::stats)
        }
        ApiCommand::MigrateKv => migrate(&client, json).await,
        ApiCommand::Export(export) => self::export(&client, export).await,
    }
}

/// `api destinations`.
/// `api metrics`: the exposition is text, so `--json` has nothing else to print.
async fn metrics(client: &Client) -> Result<(), Failure> {
    print!("{}", client.get("/metrics", &[]).await?);
    Ok(())
}

/// `api me`: who the credential is.
async fn me(client: &Client, json: bool) -> Result<(), Failure> {
    let text = client.get("/api/me", &[]).await?;
    print(json, &text, |me: Me| {
        let projects = me.projects.map_or("every project".into(), |p| p.join(", "));
        println!(
            "{} ({}): {}, {projects}",
            me.name,
            show::cell(&me.credential),
            me.role.as_str()
        );
    })
}

/// `api audit`: a page of the audit log.
async fn audit(
    client: &Client,
    json: bool,
    limit: u32,
    cursor: Option<String>,
) -> Result<(), Failure> {
    let query = with_page(Vec::new(), limit, cursor);
    let text = client.get("/api/audit", &query).await?;
    print(json, &text, |page: AuditPage| {
        show::table(
            show::AUDIT_COLUMNS,
            page.entries.iter().map(show::audit_row),
        );
        show::cursor_line(page.cursor.as_deref());
    })
}

async fn destinations(client: &Client, json: bool) -> Result<(), Failure> {
    let text = client.get("/api/destinations", &[]).await?;
    print(json, &text, |page: DestinationPage| {
        show::table(
            show::DESTINATION_COLUMNS,
            page.destinations.iter().map(show::destination_row),
        );
    })
}

/// `api pause NAME` and `api resume NAME`.
async fn force(client: &Client, json: bool, name: &str, what: &str) -> Result<(), Failure> {
    let path = format!("/api/destinations/{}/{what}", path_segment(name));
    let text = client.post(&path, None).await?;
    print(json, &text, |view: Forced| {
        let by = if view.paused_by_operator {
            " (by an operator)"
        } else {
            ""
        };
        println!(
            "{name}: {}{by}, {} held",
            show::cell(&view.state),
            view.held
        );
    })
}

/// `api watch`: the watched projects and the checked webhooks of `GET /health`.
async fn watch(client: &Client, json: bool) -> Result<(), Failure> {
    let text = client.get("/health", &[]).await?;
    let health: HealthWatch = decode(&text)?;
    if json {
        // As a JSON value (keys in alphabetical order).
        let both = serde_json::to_value(&health).unwrap_or_else(|_| json!({}));
        println!("{both}");
        return Ok(());
    }
    show::watch(&health.watch);
    if !health.webhooks.is_empty() {
        println!();
        show::webhooks(&health.webhooks);
    }
    Ok(())
}

/// `api runs`: a project's runs, or one with `--run`.
async fn runs(client: &Client, json: bool, args: RunsArgs) -> Result<(), Failure> {
    if let Some(run) = args.run {
        let path = format!("/api/runs/{}/{run}", path_segment(&args.project));
        let text = client.get(&path, &[]).await?;
        return print(json, &text, |view: RunView| show::run(&args.project, view));
    }
    let mut query = vec![("project", args.project)];
    query.extend(args.status.map(|status| ("status", status)));
    let text = client
        .get("/api/runs", &with_page(query, args.limit, args.cursor))
        .await?;
    print(json, &text, |page: RunPage| {
        show::table(show::RUN_COLUMNS, page.runs.iter().map(show::run_row));
        show::cursor_line(page.cursor.as_deref());
    })
}

/// `api list`.
async fn list(client: &Client, json: bool, page: PageArgs) -> Result<(), Failure> {
    let query = with_page(page.filters.pairs(), page.limit, page.cursor);
    let text = client.get("/api/events", &query).await?;
    print(json, &text, |page: EventPage| {
        show::table(show::EVENT_COLUMNS, page.events.iter().map(show::event_row));
        show::cursor_line(page.cursor.as_deref());
    })
}

/// `api get ID`, or its body alone with `--body`.
async fn get(client: &Client, json: bool, id: &str, body: bool) -> Result<(), Failure> {
    if body {
        println!(
            "{}",
            client.get(&format!("/api/events/{id}/body"), &[]).await?
        );
        return Ok(());
    }
    let text = client.get(&format!("/api/events/{id}"), &[]).await?;
    print(json, &text, show::event)
}

/// `api delete ID`.
async fn delete(client: &Client, json: bool, id: &str) -> Result<(), Failure> {
    let path = format!("/api/events/{id}");
    client
        .call(reqwest::Method::DELETE, &path, &[], None)
        .await?;
    if !json {
        println!("deleted {id}");
    }
    Ok(())
}

/// `api replay ID`: the event to its destinations (or these), or with
/// `--dead` its dead letters (to the first of these only).
async fn replay(
    client: &Client,
    json: bool,
    id: &str,
    destinations: Vec<String>,
    dead: bool,
) -> Result<(), Failure> {
    let text = if dead {
        let query: Vec<(&str, String)> = destinations
            .first()
            .map(|d| vec![("destination", d.clone())])
            .unwrap_or_default();
        let path = format!("/api/dead-letters/{id}/replay");
        client
            .call(reqwest::Method::POST, &path, &query, None)
            .await?
            .text
    } else {
        let body =
            (!destinations.is_empty()).then(|| json!({ "destinations": destinations }).to_string());
        client
            .post(&format!("/api/events/{id}/replay"), body)
            .await?
    };
    print(json, &text, |replay: Replayed| {
        println!(
            "queued {} for {}",
            replay.id,
            replay.destinations.join(", ")
        );
    })
}

/// `api export`: each part's lines as they came (each read as an
/// [`ExportLine`] first), following the cursor with `--all`.
async fn export(client: &Client, args: ExportArgs) -> Result<(), Failure> {
    let mut cursor = args.cursor;
    loop {
        let query = with_page(args.filters.pairs(), args.limit, cursor.take());
        let answer = client
            .call(reqwest::Method::GET, "/api/export", &query, None)
            .await?;
        for line in answer.text.lines() {
            decode::<ExportLine>(line)?;
        }
        print!("{}", answer.text);
        match answer.next {
            Some(next) if args.all => cursor = Some(next),
            Some(next) => {
                eprintln!("more: --cursor {next}");
                return Ok(());
            }
            None => return Ok(()),
        }
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

/// Calls `POST /api/replay` until its cursor runs out, adding up (a dry
/// run answers once, with no cursor).
async fn replay_all(client: &Client, as_json: bool, mut body: Value) -> Result<(), Failure> {
    let dry_run = body["dry_run"] == true;
    let (mut events, mut messages, mut skipped) = (0, 0, 0);
    loop {
        let text = client.post("/api/replay", Some(body.to_string())).await?;
        if as_json {
            println!("{text}");
        }
        if dry_run {
            let answer: DryRun = decode(&text)?;
            (events, messages, skipped) = (answer.events, answer.messages, answer.skipped);
            break;
        }
        let answer: BulkReplayed = decode(&text)?;
        events += answer.events;
        messages += answer.messages;
        skipped += answer.skipped;
        match answer.cursor {
            Some(cursor) => body["cursor"] = json!(cursor),
            None => break,
        }
    }
    if !as_json {
        let verb = if dry_run { "would replay" } else { "replayed" };
        println!(
            "{verb} {events} events ({messages} messages); {skipped} match no enabled destination"
        );
    }
    Ok(())
}

/// Calls `POST /api/migrate-kv` until its cursor runs out, adding up.
async fn migrate(client: &Client, as_json: bool) -> Result<(), Failure> {
    let mut body = json!({});
    let mut total = Migrated::default();
    loop {
        let text = client
            .post("/api/migrate-kv", Some(body.to_string()))
            .await?;
        if as_json {
            println!("{text}");
        }
        let answer: Migrated = decode(&text)?;
        total.keys += answer.keys;
        total.events += answer.events;
        total.deliveries += answer.deliveries;
        total.skipped += answer.skipped;
        match answer.cursor {
            Some(cursor) => body = json!({ "cursor": cursor }),
            None => break,
        }
    }
    if !as_json {
        let Migrated {
            keys,
            events,
            deliveries,
            skipped,
            ..
        } = total;
        println!(
            "read {keys} KV keys: {events} events and {deliveries} delivery states copied into D1, {skipped} keys skipped"
        );
    }
    Ok(())
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
