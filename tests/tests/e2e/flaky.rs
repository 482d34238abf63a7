//! A flaky destination is never stalled by its breaker (issue #27), through
//! the served Worker with retries at 1 to 2 s, 6 attempts and the default
//! breaker:
//! 1. A destination that fails each event twice (503 with `Retry-After: 1`,
//!    then 500) and accepts it the third time receives 20 of 20 events
//!    within 60 s, and none is dead-lettered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Calls per `webhook-id`, and the ids answered 200.
#[derive(Default)]
struct Seen {
    calls: HashMap<String, u32>,
    delivered: Vec<String>,
}

/// A destination failing each event twice: 503 `Retry-After: 1`, 500, then 200.
fn start_flaky() -> (u16, Arc<Mutex<Seen>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
    });
    (port, seen)
}

async fn serve(mut stream: tokio::net::TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut buffer = Vec::new();
    let end = loop {
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.split("\r\n")
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let length: usize = header("content-length:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < end + length {
        let mut chunk = vec![0u8; end + length - buffer.len()];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let id = header("webhook-id:").unwrap_or_default();
    let response = {
        let mut seen = seen.lock().unwrap();
        let calls = seen.calls.entry(id.clone()).or_default();
        *calls += 1;
        match *calls {
            1 => "HTTP/1.1 503 X\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
            2 => "HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n",
            _ => {
                seen.delivered.push(id);
                "HTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n"
            }
        }
    };
    let _ = stream.write_all(response.as_bytes()).await;
}

#[tokio::test]
async fn a_destination_failing_each_event_twice_receives_all_twenty_within_a_minute() {
    let (port, seen) = start_flaky();
    let destinations = json!([{"name": "flaky", "url": format!("http://127.0.0.1:{port}/hook")}]);
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_DEDUPE_SECONDS", "0")
            .var("QASE_RETRY_BASE_SECONDS", "1")
            .var("QASE_RETRY_CAP_SECONDS", "2")
            .var("QASE_RETRY_MAX_ATTEMPTS", "6"),
    );
    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..20 {
        let body = envelope("milestone.deleted", "DEMO", json!({"id": n}));
        let (status, answer) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let deadline = started + Duration::from_secs(60);
    while seen.lock().unwrap().delivered.len() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut delivered = seen.lock().unwrap().delivered.clone();
    delivered.sort();
    ids.sort();
    assert_eq!(
        delivered,
        ids,
        "20 of 20 within 60 s ({} received after {:?})",
        delivered.len(),
        started.elapsed()
    );
    let dead = worker
        .d1(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'dead'",
            &[],
        )
        .await;
    assert_eq!(dead[0]["n"], 0, "none dead-lettered");
}
