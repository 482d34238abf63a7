//! Chat destinations: Slack, Teams, Discord and Google Chat messages made
//! from the typed events, against a local sink.
//! 1. Each format's body has its service's essentials (Slack `blocks` and
//!    `text`, Teams an Adaptive Card attachment, Discord `embeds`, Google
//!    Chat `cardsV2`), links to the run in the configured Qase app, and no
//!    Standard Webhooks or Qase headers.
//! 2. A hostile test case title pings nobody and injects no markup.
//! 3. A burst of 100 events to one paced chat destination arrives complete,
//!    and no faster than its pace: the k-th post no sooner than k intervals
//!    after the first.
//! 4. The pace outlives its Durable Object: after a restart on the same
//!    storage (the object starts afresh, as after an eviction), the next
//!    post still waits for the slot handed out before.

use std::time::Duration;

use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, Worker, WorkerOptions};
use serde_json::{json, Value};

const APP_URL: &str = "https://qase.example.eu";

fn chat_options(destinations: &Value) -> WorkerOptions {
    WorkerOptions::with_secret()
        .var("QASE_DESTINATIONS", &destinations.to_string())
        .var("QASE_APP_URL", APP_URL)
        .var("QASE_DEDUPE_SECONDS", "0")
}

fn chat_worker(destinations: Value) -> Worker {
    Worker::start(chat_options(&destinations))
}

fn run_completed(id: u64) -> Vec<u8> {
    envelope(
        "run.completed",
        "DEMO",
        json!({"id": id, "cases": 3, "passed": 2, "failed": 1, "blocked": 0, "duration": 4000}),
    )
}

#[tokio::test]
async fn each_format_reaches_its_service_with_its_essentials_and_links() {
    let sink = Sink::start();
    sink.always("/slack", Reply::status(200));
    sink.always("/teams", Reply::status(202));
    sink.always("/discord", Reply::status(204));
    sink.always("/gchat", Reply::status(200));
    let destinations = json!([
        {"name": "slack", "url": sink.url("/slack"), "format": "slack", "pace_ms": 0},
        {"name": "teams", "url": sink.url("/teams"), "format": "teams", "pace_ms": 0},
        {"name": "discord", "url": sink.url("/discord"), "format": "discord", "pace_ms": 0},
        {"name": "gchat", "url": sink.url("/gchat"), "format": "google_chat", "pace_ms": 0},
    ]);
    let worker = chat_worker(destinations);
    worker.accept(run_completed(42)).await;

    let link = format!("{APP_URL}/run/DEMO/dashboard/42");
    for path in ["/slack", "/teams", "/discord", "/gchat"] {
        let received = sink
            .wait_for(&worker, path, 1, Duration::from_secs(20))
            .await;
        assert_eq!(received.len(), 1, "{path}");
        let request = &received[0];
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        match path {
            "/slack" => assert!(
                body["blocks"].is_array() && body["text"].is_string(),
                "{body}"
            ),
            "/teams" => assert_eq!(
                body["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive",
                "{body}"
            ),
            "/discord" => assert!(body["embeds"].is_array(), "{body}"),
            _ => assert!(body["cardsV2"].is_array(), "{body}"),
        }
        assert!(body.to_string().contains(&link), "{path}: {body}");
        assert_eq!(request.headers["content-type"], "application/json");
        for header in request.headers.keys() {
            assert!(
                !header.starts_with("webhook-") && !header.starts_with("x-qase"),
                "{path}: {header}"
            );
        }
    }
}

#[tokio::test]
async fn a_hostile_title_pings_nobody() {
    let sink = Sink::start();
    sink.always("/slack", Reply::status(200));
    sink.always("/discord", Reply::status(204));
    let worker = chat_worker(json!([
        {"name": "slack", "url": sink.url("/slack"), "format": "slack", "pace_ms": 0},
        {"name": "discord", "url": sink.url("/discord"), "format": "discord", "pace_ms": 0},
    ]));
    let body = envelope(
        "case.created",
        "DEMO",
        json!({"id": 9, "title": "<!channel> @everyone <img src=x onerror=alert(1)> *bold*"}),
    );
    worker.accept(body).await;
    let slack = sink
        .wait_for(&worker, "/slack", 1, Duration::from_secs(20))
        .await;
    let discord = sink
        .wait_for(&worker, "/discord", 1, Duration::from_secs(20))
        .await;
    let slack = String::from_utf8_lossy(&slack[0].body).into_owned();
    assert!(
        !slack.contains("<!channel>") && !slack.contains("<img"),
        "{slack}"
    );
    let discord_body: Value = serde_json::from_slice(&discord[0].body).unwrap();
    assert_eq!(discord_body["allowed_mentions"]["parse"], json!([]));
    assert!(
        !discord_body.to_string().contains("@everyone "),
        "{discord_body}"
    );
}

#[tokio::test]
async fn a_burst_to_a_paced_destination_arrives_complete_and_paced() {
    const PACE_MS: u64 = 60;
    const EVENTS: usize = 100;
    let sink = Sink::start();
    sink.always("/slack", Reply::status(200));
    let worker = chat_worker(json!([
        {"name": "slack", "url": sink.url("/slack"), "format": "slack", "pace_ms": PACE_MS},
    ]));
    for id in 0..EVENTS as u64 {
        worker.accept(run_completed(id)).await;
    }
    let received = sink
        .wait_for(&worker, "/slack", EVENTS, Duration::from_secs(90))
        .await;
    assert_eq!(received.len(), EVENTS, "every event arrives");
    let mut times: Vec<_> = received.iter().map(|r| r.at).collect();
    times.sort();
    // Paced means a rate: posts i < j are at least (j - i) intervals apart.
    // Each post leaves at its slot plus some lateness (timers, a busy
    // 2-core machine, the network to the sink), so a late post i can make a
    // later one look early by that lateness, never by more. With two
    // Workers starting beside this one, timers have fired over 200 ms late
    // (posts 32 and 36 came 34 ms apart), so the lateness allowed is 1 s:
    // the check then still fails an unpaced burst (100 posts in well under
    // a second, against a floor of 5.9 s) and a pacer whose slots come even
    // a sixth faster than the interval (a deficit over 1 s by the 100th).
    let lateness = Duration::from_millis(1_000);
    for (i, earlier) in times.iter().enumerate() {
        for (j, later) in times.iter().enumerate().skip(i + 1) {
            let apart = *later - *earlier;
            let floor = Duration::from_millis(PACE_MS * (j - i) as u64);
            assert!(
                apart + lateness >= floor,
                "posts {i} and {j} came {apart:?} apart, closer than {floor:?}"
            );
        }
    }
    let mut ids: Vec<u64> = received
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(&r.body).into_owned();
            let at = text.find("/dashboard/").expect("a run link") + "/dashboard/".len();
            text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENTS, "no event twice, none missing");
}

#[tokio::test]
async fn the_pace_outlives_its_durable_object() {
    const PACE_MS: u64 = 15_000;
    let sink = Sink::start();
    sink.always("/slack", Reply::status(200));
    let destinations = json!([
        {"name": "slack", "url": sink.url("/slack"), "format": "slack", "pace_ms": PACE_MS},
    ]);
    let worker = chat_worker(destinations.clone());
    worker.accept(run_completed(1)).await;
    let first = sink
        .wait_for(&worker, "/slack", 1, Duration::from_secs(20))
        .await;
    assert_eq!(first.len(), 1, "{}", worker.logs());
    // The pacer's next free slot is now 15 s off; a fresh object that
    // forgot it would hand out a slot at once.
    let worker = worker.restart(chat_options(&destinations));
    worker.accept(run_completed(2)).await;
    let received = sink
        .wait_for(&worker, "/slack", 2, Duration::from_secs(40))
        .await;
    assert_eq!(received.len(), 2, "{}", worker.logs());
    let gap = received[1].at - received[0].at;
    assert!(
        gap + Duration::from_millis(100) >= Duration::from_millis(PACE_MS),
        "the second post came {gap:?} after the first"
    );
}
