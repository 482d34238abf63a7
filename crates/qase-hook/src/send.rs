//! `qase-hook send`: one delivery per named event, a given body, or a load
//! run of `--count` distinct deliveries at `--concurrency`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use qase_webhooks::EventName;

use crate::{known_event, read_input, samples, Failure, DEFAULT_SECRET, DEFAULT_URL};

#[derive(Args)]
pub struct SendArgs {
    /// Events to send, e.g. `run.completed case.created`.
    #[arg(required_unless_present = "file")]
    events: Vec<String>,
    /// The project code in the envelope.
    #[arg(long, default_value = "DEMO")]
    project: String,
    /// The receiver's ingest URL.
    #[arg(long, env = "QASE_HOOK_URL", default_value = DEFAULT_URL)]
    url: String,
    /// The `X-Qase-Secret` to send (empty: send none).
    #[arg(long, env = "QASE_HOOK_SECRET", default_value = DEFAULT_SECRET, hide_env_values = true)]
    secret: String,
    /// Send this file's bytes unchanged (`-` for stdin) instead of generated events.
    #[arg(long, conflicts_with = "events")]
    file: Option<String>,
    /// How many deliveries to send (cycling through the events, each distinct).
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// How many requests at once during a load run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print the bodies instead of sending them.
    #[arg(long)]
    print: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn run(args: SendArgs) -> Result<(), Failure> {
    let bodies = bodies(&args)?;
    if args.print {
        for body in &bodies {
            println!("{}", String::from_utf8_lossy(body));
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start: {e}")))?;
    if bodies.len() == 1 || args.count == 1 {
        runtime.block_on(send_each(&args, bodies))
    } else {
        runtime.block_on(load(&args, bodies))
    }
}

fn bodies(args: &SendArgs) -> Result<Vec<Vec<u8>>, Failure> {
    if let Some(file) = &args.file {
        let body = read_input(file)?;
        return Ok(vec![body; args.count.max(1) as usize]);
    }
    let events: Vec<EventName> = args
        .events
        .iter()
        .map(|e| known_event(e))
        .collect::<Result<_, _>>()?;
    let timestamp = now();
    let total = args.count.max(1)
        * if args.count > 1 {
            1
        } else {
            events.len() as u64
        };
    Ok((0..total)
        .map(|n| {
            let event = &events[(n % events.len() as u64) as usize];
            let envelope = samples::envelope(event, &args.project, timestamp, n);
            serde_json::to_vec(&envelope).expect("envelopes serialise")
        })
        .collect())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a default HTTP client builds")
}

async fn post(
    client: &reqwest::Client,
    args: &SendArgs,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let mut request = client
        .post(&args.url)
        .header("Content-Type", "application/json")
        .body(body);
    if !args.secret.is_empty() {
        request = request.header("X-Qase-Secret", &args.secret);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Ok((status, text))
}

async fn send_each(args: &SendArgs, bodies: Vec<Vec<u8>>) -> Result<(), Failure> {
    let client = client();
    let mut refused = 0;
    for body in bodies {
        let (status, text) = post(&client, args, body)
            .await
            .map_err(|e| Failure::usage(format!("cannot reach {}: {e}", args.url)))?;
        println!("{status} {text}");
        if !(200..300).contains(&status) {
            refused += 1;
        }
    }
    match refused {
        0 => Ok(()),
        n => Err(Failure::refused(format!("{n} delivery(ies) refused"))),
    }
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    duplicates: u64,
    unavailable: u64,
    refused: u64,
    unreachable: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    /// Counts one request's result and latency.
    fn record(&mut self, result: &Result<(u16, String), String>, elapsed: Duration) {
        self.latencies.push(elapsed);
        match result {
            Ok((202, _)) => self.accepted += 1,
            Ok((200, _)) => self.duplicates += 1,
            Ok((503, _)) => self.unavailable += 1,
            Ok(_) => self.refused += 1,
            Err(_) => self.unreachable += 1,
        }
    }

    /// Prints the summary line; an error when any request did not reach
    /// the receiver or was not accepted.
    fn report(mut self, elapsed: Duration, url: &str) -> Result<(), Failure> {
        self.latencies.sort();
        let percentile = |p: f64| {
            let index = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
            self.latencies.get(index).copied().unwrap_or_default()
        };
        let sent = self.latencies.len();
        println!(
            "sent {sent} in {:.2}s ({:.0}/s): accepted {}, duplicates {}, 503 {}, refused {}, unreachable {}; latency p50 {:.1} ms, p99 {:.1} ms",
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64(),
            self.accepted,
            self.duplicates,
            self.unavailable,
            self.refused,
            self.unreachable,
            percentile(0.50).as_secs_f64() * 1000.0,
            percentile(0.99).as_secs_f64() * 1000.0,
        );
        if self.unreachable > 0 {
            return Err(Failure::usage(format!(
                "{} request(s) could not reach {url}",
                self.unreachable
            )));
        }
        if self.refused + self.unavailable > 0 {
            return Err(Failure::refused(format!(
                "{} delivery(ies) not accepted",
                self.refused + self.unavailable
            )));
        }
        Ok(())
    }
}

async fn load(args: &SendArgs, bodies: Vec<Vec<u8>>) -> Result<(), Failure> {
    let client = client();
    let progress = ProgressBar::new(bodies.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template"),
    );
    let queue = Arc::new(std::sync::Mutex::new(bodies.into_iter()));
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let started = Instant::now();
    let workers = (0..args.concurrency.max(1)).map(|_| {
        let (queue, tally, client, progress) = (
            queue.clone(),
            tally.clone(),
            client.clone(),
            progress.clone(),
        );
        async move {
            loop {
                let Some(body) = queue.lock().unwrap().next() else {
                    break;
                };
                let start = Instant::now();
                let result = post(&client, args, body).await;
                tally.lock().unwrap().record(&result, start.elapsed());
                progress.inc(1);
            }
        }
    });
    // All workers run on this task and share the client's connection pool.
    join_all(workers).await;
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("workers done")
        .into_inner()
        .unwrap();
    tally.report(elapsed, &args.url)
}
