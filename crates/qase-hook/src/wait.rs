//! `qase-hook wait`: a CI gate on a Qase test run. It asks qase-edge's
//! `GET /api/runs/{project}/{id}/wait`, which answers the moment the run's
//! end reaches qase-edge (no polling of Qase), asking again until its own
//! `--timeout`, then checks the run against the thresholds
//! ([`qase_webhooks::run_report::Thresholds`]) and prints a one-line verdict.
//! The counts are Qase's own once qase-edge has read the run's details from
//! Qase's API: an ended run whose details are pending is asked again each
//! second, for at most `--details-wait`.
//!
//! Exit codes: 0 the run met the thresholds, 1 it did not, 2 timeout or error.

use std::time::{Duration, Instant};

use clap::Args;
use engine::runs::api::RunView;
use engine::runs::state::RunStatus;
use qase_webhooks::run_report::{RunOutcome, Thresholds, Verdict};

use crate::api::show::cell;
use crate::api::DEFAULT_API_URL;
use crate::credential::{Credential, CredentialArgs};
use crate::Failure;

/// The longest one wait request asks the Worker to hold (its limit).
const MAX_WAIT_SECONDS: u64 = 300;

/// How often an ended run is asked again while its details are pending.
const DETAILS_POLL: Duration = Duration::from_secs(1);

#[derive(Args)]
pub struct WaitArgs {
    /// The project code.
    #[arg(long)]
    project: String,
    /// The run id.
    #[arg(long)]
    run: u64,
    /// At most this many failed cases.
    #[arg(long)]
    max_failed: Option<u64>,
    /// At most this many blocked cases.
    #[arg(long)]
    max_blocked: Option<u64>,
    /// At least this pass rate, in percent (`95`, `99.5`).
    #[arg(long)]
    min_pass_rate: Option<f64>,
    /// Let an aborted run pass (by default it fails the gate).
    #[arg(long)]
    allow_aborted: bool,
    /// How long to wait: `90s`, `30m`, `2h` or seconds.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    timeout: Duration,
    /// Once the run has ended, how long to wait for its counts from Qase's
    /// API (qase-edge fetches them when the run ends, with
    /// `QASE_API_TOKEN`); then the end event's counts decide.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    details_wait: Duration,
    /// The qase-edge base URL.
    #[arg(long, env = "QASE_HOOK_API_URL", default_value = DEFAULT_API_URL)]
    url: String,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `90s`, `30m`, `2h`, `1d` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 90s, 30m or 2h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// The gate's outcome: exit code and the one line to print.
pub fn verdict(project: &str, run: u64, view: &RunView, thresholds: &Thresholds) -> (u8, String) {
    let name = match &view.title {
        Some(title) => format!("{project} run {run} \"{title}\""),
        None => format!("{project} run {run}"),
    };
    let (outcome, counts) = match (view.status, view.counts) {
        (RunStatus::Completed, Some(counts)) => (RunOutcome::Completed, counts),
        (RunStatus::Aborted, Some(counts)) => (RunOutcome::Aborted, counts),
        _ => {
            return (
                2,
                format!(
                    "ERROR {name}: the run is {} without counts",
                    cell(&view.status)
                ),
            )
        }
    };
    let summary = format!(
        "{} of {} passed{}, {} failed, {} blocked",
        counts.passed,
        counts.cases,
        counts
            .pass_rate()
            .map(|rate| format!(" ({rate}%)"))
            .unwrap_or_default(),
        counts.failed,
        counts.blocked
    );
    let link = format!(" {}", view.url);
    match thresholds.verdict(outcome, &counts) {
        Verdict::Passed => (0, format!("PASSED {name}: {summary}{link}")),
        Verdict::Failed(reasons) => (
            1,
            format!("FAILED {name}: {}; {summary}{link}", reasons.join(", ")),
        ),
    }
}

pub fn run(args: WaitArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start: {e}")))?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: WaitArgs) -> Result<(), Failure> {
    let credential = Credential::from_args(&args.credential)?;
    let url = wait_url(&args)?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + args.timeout;
    let mut details_deadline: Option<Instant> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let chunk = match details_deadline {
            // Ended: the run's state at once, until its details come.
            Some(_) => 0,
            None => remaining.as_secs().min(MAX_WAIT_SECONDS),
        };
        let view = ask(&http, &url, &credential, chunk, &args.url).await?;
        if view.done {
            let until = *details_deadline
                .get_or_insert_with(|| (Instant::now() + args.details_wait).min(deadline));
            if !view.details_pending || Instant::now() >= until {
                return conclude(&args, &view);
            }
            tokio::time::sleep(DETAILS_POLL).await;
            continue;
        }
        if chunk == 0 || Instant::now() >= deadline {
            println!(
                "TIMEOUT {} run {}: not ended after {}s (status {})",
                args.project,
                args.run,
                args.timeout.as_secs(),
                cell(&view.status)
            );
            return Err(Failure::usage("timed out"));
        }
    }
}

/// `{--url}/api/runs/{project}/{run}/wait`.
fn wait_url(args: &WaitArgs) -> Result<reqwest::Url, Failure> {
    let mut url = reqwest::Url::parse(args.url.trim_end_matches('/'))
        .map_err(|e| Failure::usage(format!("--url: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| Failure::usage("--url cannot be a base URL"))?
        .extend([
            "api",
            "runs",
            args.project.as_str(),
            &args.run.to_string(),
            "wait",
        ]);
    Ok(url)
}

/// One wait request of at most `chunk` seconds: the run as it then stands.
async fn ask(
    http: &reqwest::Client,
    url: &reqwest::Url,
    credential: &Credential,
    chunk: u64,
    base: &str,
) -> Result<RunView, Failure> {
    let response = credential
        .apply(http.get(url.clone()))
        .query(&[("timeout", chunk.to_string())])
        .timeout(Duration::from_secs(chunk + 30))
        .send()
        .await
        .map_err(|e| Failure::usage(format!("ERROR cannot reach {base}: {e}")))?;
    let status = response.status().as_u16();
    let answered = response.url().to_string();
    let text = response.text().await.unwrap_or_default();
    if let Some(hint) = credential.access_hint(status, &answered, &text) {
        return Err(Failure::usage(format!(
            "ERROR {hint} (HTTP {status} from {answered})"
        )));
    }
    if status != 200 {
        return Err(Failure::usage(format!(
            "ERROR qase-edge answered {status}: {text}"
        )));
    }
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("ERROR unexpected answer ({e}): {text}")))
}

/// The verdict on an ended run, printed; the exit by the thresholds.
fn conclude(args: &WaitArgs, view: &RunView) -> Result<(), Failure> {
    let thresholds = Thresholds {
        max_failed: args.max_failed,
        max_blocked: args.max_blocked,
        min_pass_rate: args.min_pass_rate,
        allow_aborted: args.allow_aborted,
    };
    // The verdict is the command's output, whatever it is.
    let (code, line) = verdict(&args.project, args.run, view, &thresholds);
    println!("{line}");
    match code {
        0 => Ok(()),
        1 => Err(Failure::refused("the run did not meet the thresholds")),
        _ => Err(Failure::usage("the run ended without counts")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, counts: Option<(u64, u64, u64, u64)>) -> RunView {
        let counts = counts.map(|(cases, passed, failed, blocked)| {
            serde_json::json!({"cases": cases, "passed": passed, "failed": failed,
                "blocked": blocked, "skipped": null, "untested": null, "duration": 0})
        });
        serde_json::from_value(serde_json::json!({
            "project": "WEB", "run": 42, "status": status,
            "done": matches!(status, "completed" | "aborted"), "title": "Nightly",
            "plan_id": null, "environment": null, "started_by": null, "counts": counts,
            "pass_rate": null, "duration_ms": null, "first_event_at": null,
            "last_event_at": null, "run_events": 1,
            "results": {"created": 0, "updated": 0, "deleted": 0}, "deleted": false,
            "failures": null, "report_sent": false, "source": null, "reconciled": false, "url": "https://app.qase.io/run/WEB/dashboard/42"
        }))
        .unwrap()
    }

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn the_verdict_exits_by_the_thresholds() {
        let gate = Thresholds {
            max_failed: Some(0),
            ..Thresholds::default()
        };
        let (code, line) = verdict("WEB", 42, &view("completed", Some((3, 3, 0, 0))), &gate);
        assert_eq!(code, 0);
        assert_eq!(
            line,
            "PASSED WEB run 42 \"Nightly\": 3 of 3 passed (100%), 0 failed, 0 blocked \
             https://app.qase.io/run/WEB/dashboard/42"
        );
        let (code, line) = verdict("WEB", 42, &view("completed", Some((3, 2, 1, 0))), &gate);
        assert_eq!(code, 1);
        assert!(line.starts_with("FAILED WEB run 42"), "{line}");
        assert!(line.contains("1 failed (at most 0 allowed)"), "{line}");
        let (code, _) = verdict("WEB", 42, &view("aborted", Some((3, 3, 0, 0))), &gate);
        assert_eq!(code, 1);
        let (code, _) = verdict("WEB", 42, &view("completed", None), &gate);
        assert_eq!(code, 2);
    }
}
