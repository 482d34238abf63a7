//! `qase-hook wait`: a CI gate on a Qase test run. It asks qase-edge's
//! `GET /api/runs/{project}/{id}/wait`, which answers the moment the run's
//! end reaches qase-edge (no polling of Qase), asking again until its own
//! `--timeout`, then checks the run against the thresholds
//! ([`qase_webhooks::run_report::Thresholds`]) and prints a one-line verdict.
//!
//! Exit codes: 0 the run met the thresholds, 1 it did not, 2 timeout or error.

use std::time::{Duration, Instant};

use clap::Args;
use qase_webhooks::run_report::{RunCounts, RunOutcome, Thresholds, Verdict};
use serde::Deserialize;

use crate::api::DEFAULT_API_URL;
use crate::Failure;

/// The longest one wait request asks the Worker to hold (its limit).
const MAX_WAIT_SECONDS: u64 = 300;

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
    /// The qase-edge base URL.
    #[arg(long, env = "QASE_HOOK_API_URL", default_value = DEFAULT_API_URL)]
    url: String,
    /// The operator token (the Worker's QASE_ADMIN_TOKEN).
    #[arg(long, env = "QASE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
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

/// The part of the API's run view the gate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct RunView {
    /// Whether the run ended.
    pub done: bool,
    /// `unknown`, `started`, `completed` or `aborted`.
    pub status: String,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// Its counts, once ended.
    #[serde(default)]
    pub counts: Option<RunCounts>,
    /// Its page in Qase.
    #[serde(default)]
    pub url: Option<String>,
}

/// The gate's outcome: exit code and the one line to print.
pub fn verdict(project: &str, run: u64, view: &RunView, thresholds: &Thresholds) -> (u8, String) {
    let name = match &view.title {
        Some(title) => format!("{project} run {run} \"{title}\""),
        None => format!("{project} run {run}"),
    };
    let (outcome, counts) = match (view.status.as_str(), view.counts) {
        ("completed", Some(counts)) => (RunOutcome::Completed, counts),
        ("aborted", Some(counts)) => (RunOutcome::Aborted, counts),
        _ => {
            return (
                2,
                format!("ERROR {name}: the run is {} without counts", view.status),
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
    let link = view
        .url
        .as_deref()
        .map(|url| format!(" {url}"))
        .unwrap_or_default();
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
    let token = args.token.clone().ok_or_else(|| {
        Failure::usage(
            "no token: pass --token or set QASE_ADMIN_TOKEN to the Worker's QASE_ADMIN_TOKEN",
        )
    })?;
    let thresholds = Thresholds {
        max_failed: args.max_failed,
        max_blocked: args.max_blocked,
        min_pass_rate: args.min_pass_rate,
        allow_aborted: args.allow_aborted,
    };
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
    let http = reqwest::Client::new();
    let deadline = Instant::now() + args.timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let chunk = remaining.as_secs().min(MAX_WAIT_SECONDS);
        let response = http
            .get(url.clone())
            .bearer_auth(&token)
            .query(&[("timeout", chunk.to_string())])
            .timeout(Duration::from_secs(chunk + 30))
            .send()
            .await
            .map_err(|e| Failure::usage(format!("ERROR cannot reach {}: {e}", args.url)))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != 200 {
            return Err(Failure::usage(format!(
                "ERROR qase-edge answered {status}: {text}"
            )));
        }
        let view: RunView = serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("ERROR unexpected answer ({e}): {text}")))?;
        if view.done {
            // The verdict is the command's output, whatever it is.
            let (code, line) = verdict(&args.project, args.run, &view, &thresholds);
            println!("{line}");
            return match code {
                0 => Ok(()),
                1 => Err(Failure::refused("the run did not meet the thresholds")),
                _ => Err(Failure::usage("the run ended without counts")),
            };
        }
        if chunk == 0 || Instant::now() >= deadline {
            println!(
                "TIMEOUT {} run {}: not ended after {}s (status {})",
                args.project,
                args.run,
                args.timeout.as_secs(),
                view.status
            );
            return Err(Failure::usage("timed out"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, counts: Option<(u64, u64, u64, u64)>) -> RunView {
        RunView {
            done: matches!(status, "completed" | "aborted"),
            status: status.to_owned(),
            title: Some("Nightly".into()),
            counts: counts.map(|(cases, passed, failed, blocked)| RunCounts {
                cases,
                passed,
                failed,
                blocked,
                skipped: None,
                untested: None,
                duration: 0,
            }),
            url: None,
        }
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
            "PASSED WEB run 42 \"Nightly\": 3 of 3 passed (100%), 0 failed, 0 blocked"
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
