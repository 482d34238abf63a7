//! qase-hook: a command-line companion to qase-edge.
//!
//! - `send`: fire realistic, authenticated Qase events (or a given body) at a
//!   receiver, once or as a load run with a latency summary.
//! - `events`, `schema`: what Qase sends, from the core crate's model.
//! - `preview`: the chat message (Slack, Teams, Discord, Google Chat) an
//!   event becomes.
//! - `verify`: check a forwarded request's Standard Webhooks signature.
//! - `api`: the operator API (list, get, delete, replay, bulk replay, dead
//!   letters, stats, export).
//! - `completions`: shell completions.
//!
//! Exit codes: 0 success, 1 a request was refused or a check failed,
//! 2 a usage error or an unreachable receiver.

mod api;
mod credential;
mod preview;
mod samples;
mod send;
mod verify;
mod wait;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use qase_webhooks::EventName;

/// The local `wrangler dev` ingest URL, where `scripts/run` serves.
pub const DEFAULT_URL: &str = "http://localhost:8787/webhooks/qase";
/// The demo secret `scripts/run` configures.
pub const DEFAULT_SECRET: &str = "local-demo-secret";

#[derive(Parser)]
#[command(
    name = "qase-hook",
    // The same version and commit as the Worker's `GET /health` (see
    // build-support/git_commit.rs).
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("QASE_EDGE_GIT_COMMIT"), ")"),
    about = "Fire Qase webhook events at qase-edge, and verify what it forwards"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send realistic, authenticated deliveries of the named events.
    Send(send::SendArgs),
    /// List every known event with its entity, action and Qase UI name.
    Events,
    /// Print the JSON Schema of an event's payload (or `envelope`, or `run-report`: the report sent to `"reports": true` destinations).
    Schema {
        /// An event name such as `run.completed`, `envelope` or `run-report`.
        event: String,
    },
    /// Print the chat message body (Slack, Teams, Discord, Google Chat) an event becomes.
    Preview(preview::PreviewArgs),
    /// Verify the Standard Webhooks signature of a forwarded request.
    Verify(verify::VerifyArgs),
    /// The qase-edge operator API: list, get, delete, replay, dead letters, stats, export, runs.
    Api(api::ApiArgs),
    /// A CI gate: wait for a Qase run's end through qase-edge, check thresholds
    /// (exit 0 met, 1 not met, 2 timeout or error) and print a one-line verdict.
    Wait(wait::WaitArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// An error for the user, with the exit code it maps to.
pub struct Failure {
    /// The message, printed to stderr.
    pub message: String,
    /// The exit code.
    pub code: u8,
}

impl Failure {
    /// A usage error or an unreachable receiver (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }

    /// A refused request or a failed check (exit 1).
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

/// The bytes of a file, or of stdin for `-`.
pub fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let result = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|read| bytes = read)
    };
    result.map_err(|e| Failure::usage(format!("cannot read {path}: {e}")))?;
    Ok(bytes)
}

/// Parses a known event name, or says how to list them.
pub fn known_event(name: &str) -> Result<EventName, Failure> {
    match EventName::parse(name) {
        EventName::Unknown(_) => Err(Failure::usage(format!(
            "unknown event `{name}`: `qase-hook events` lists the known ones"
        ))),
        event => Ok(event),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => send::run(args),
        Command::Events => {
            println!("{:<32} {:<12} {:<26} UI NAME", "EVENT", "ENTITY", "ACTION");
            for event in EventName::ALL {
                println!(
                    "{:<32} {:<12} {:<26} {}",
                    event.as_str(),
                    event.entity(),
                    event.action(),
                    event.ui_name().unwrap_or("-")
                );
            }
            Ok(())
        }
        Command::Schema { event } => schema(&event),
        Command::Preview(args) => preview::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Api(args) => api::run(args),
        Command::Wait(args) => wait::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "qase-hook",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("qase-hook: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn schema(event: &str) -> Result<(), Failure> {
    let schema = if event == "envelope" {
        qase_webhooks::schema::envelope_schema()
    } else if event == "run-report" {
        qase_webhooks::schema::run_report_schema()
    } else {
        let name = known_event(event)?;
        qase_webhooks::schema::payload_schema(&name).ok_or_else(|| {
            Failure::usage(format!("`{event}` has no documented payload, so no schema"))
        })?
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schemas serialise")
    );
    Ok(())
}
