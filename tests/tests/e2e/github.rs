//! GitHub destinations (issue 30), against a local server speaking GitHub's
//! documented REST shapes (`qase_edge_e2e::github`):
//! 1. A run tagged `sha:` and `pr:` in Qase: its `run.started` (twice, at
//!    once) makes one `pending` status and one comment per destination; the
//!    rest of its events, shuffled and each twice, make one final status,
//!    `success` for a destination whose thresholds it meets and `failure`
//!    for one whose `max_failed: 0` it misses, and the same comment edited
//!    in place, with the failures listed; a hostile run and case title pings
//!    nobody and links nowhere.
//! 2. A replay of the run's events to both destinations changes nothing on
//!    GitHub: no request is made at all.
//! 3. A `403` secondary rate limit (`Retry-After`) is waited out, and the
//!    status then posted; a wrong token is a dead letter that says so.

use std::collections::BTreeMap;
use std::time::Duration;

use qase_edge_e2e::github::{Github, Refusal};
use qase_edge_e2e::qase_api::{QaseApi, TestRun};
use qase_edge_e2e::{Worker, WorkerOptions};
use serde_json::{json, Value};

const SHA: &str = "4f1e9c2d7a8b3e6f5c4d3b2a1908f7e6d5c4b3a2";
const TOKEN: &str = "ghp_e2e_token";
const HOSTILE: &str = "@octo/team see [click](https://evil.example) <img src=x onerror=alert(1)>";

fn delivery(event_name: &str, run: u64, at: u64, payload: Value) -> Vec<u8> {
    let mut payload = payload;
    payload["run_id"] = json!(run);
    serde_json::to_vec(&json!({
        "event_name": event_name, "timestamp": at, "payload": payload,
        "team_member_id": 11, "project_code": "WEB",
    }))
    .unwrap()
}

fn started(run: u64) -> Vec<u8> {
    let payload = json!({"id": run, "title": HOSTILE, "cases_count": 2});
    delivery("run.started", run, 1_000, payload)
}

fn completed(run: u64, failed: u64) -> Vec<u8> {
    let passed = 2 - failed;
    let payload = json!({"id": run, "cases": 2, "passed": passed, "failed": failed, "blocked": 0, "duration": 5000});
    delivery("run.completed", run, 1_100, payload)
}

fn qase_run(id: u64, tags: &[String], ended: Option<(u64, u64)>) -> TestRun {
    let statuses: BTreeMap<String, u64> = match ended {
        Some((passed, failed)) => [("passed".into(), passed), ("failed".into(), failed)].into(),
        None => BTreeMap::new(),
    };
    TestRun {
        project: "WEB".into(),
        id,
        title: HOSTILE.into(),
        status: if ended.is_some() {
            "failed"
        } else {
            "in_progress"
        }
        .into(),
        start_time: 1_000,
        end_time: ended.map(|_| 1_100),
        statuses,
        tags: tags.to_vec(),
    }
}

fn worker(qase: &QaseApi, destinations: Value) -> Worker {
    Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("GITHUB_TOKEN", TOKEN)
            .var("WRONG_TOKEN", "ghp_revoked")
            .var("QASE_API_URL", &qase.base_url())
            .var("QASE_API_TOKEN", qase.token())
            .var("QASE_RUN_SETTLE_SECONDS", "2")
            .var("QASE_RETRY_BASE_SECONDS", "1"),
    )
}

fn github_destination(name: &str, github: &Github, repository: &str, extra: Value) -> Value {
    let mut destination = json!({"name": name, "url": github.base_url(), "format": "github",
        "repository": repository, "token_secret": "GITHUB_TOKEN", "pace_ms": 0});
    for (key, value) in extra.as_object().unwrap() {
        destination[key] = value.clone();
    }
    destination
}

fn states(github: &Github, repository: &str) -> Vec<String> {
    let statuses = github.statuses(repository);
    statuses
        .iter()
        .map(|s| s.body["state"].as_str().unwrap().to_owned())
        .collect()
}

/// A fixed shuffle, so that a failure can be replayed.
fn shuffled<T>(mut items: Vec<T>, mut seed: u64) -> Vec<T> {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
    items
}

/// Waits until both repositories hold `count` statuses and a comment
/// holding `word` (within 40 s).
async fn wait_for_github(worker: &Worker, github: &Github, count: usize, words: [&str; 2]) {
    let what = format!("{count} status(es) and comments saying {words:?}");
    worker
        .wait_until(&what, Duration::from_secs(40), async || {
            let done = ["octo/web", "octo/strict"]
                .iter()
                .zip(words)
                .all(|(repo, word)| {
                    github.statuses(repo).len() >= count
                        && github.comments(repo).iter().any(|c| c.body.contains(word))
                });
            done.then_some(())
        })
        .await
}

/// Attempt log lines for `destination`.
fn attempts(worker: &Worker, destination: &str) -> usize {
    let needle = format!(r#""destination":"{destination}""#);
    worker
        .logs()
        .lines()
        .filter(|line| line.contains(r#""event":"attempt""#) && line.contains(&needle))
        .count()
}

#[tokio::test]
async fn a_run_makes_one_pending_and_one_final_status_and_one_comment_edited_in_place() {
    let qase = QaseApi::start("qase-api-token");
    let tags = vec![
        format!("sha:{SHA}"),
        "pr:7".to_owned(),
        "nightly".to_owned(),
    ];
    qase.run(qase_run(42, &tags, None));
    qase.case("WEB", 1, "Login works");
    qase.case("WEB", 2, HOSTILE);
    qase.result("WEB", 42, 1, "passed");
    qase.result("WEB", 42, 2, "failed");
    let github = Github::start(TOKEN, &["octo/web", "octo/strict"]);
    let destinations = json!([
        github_destination("gh", &github, "octo/web", json!({})),
        github_destination(
            "strict",
            &github,
            "octo/strict",
            json!({"thresholds": {"max_failed": 0}})
        ),
    ]);
    let worker = worker(&qase, destinations);

    // The start, twice at once: one pending status, one comment.
    futures_util::future::join(
        worker.accept_or_duplicate(started(42)),
        worker.accept_or_duplicate(started(42)),
    )
    .await;
    wait_for_github(&worker, &github, 1, ["running", "running"]).await;
    for repo in ["octo/web", "octo/strict"] {
        assert_eq!(
            states(&github, repo),
            ["pending"],
            "{repo}\n{}",
            worker.logs()
        );
        assert_eq!(github.comments(repo).len(), 1, "{repo}");
        let status = &github.statuses(repo)[0];
        assert_eq!(status.sha, SHA);
        assert_eq!(status.body["context"], "qase/WEB");
    }

    // The rest, shuffled and each twice (the start among them again).
    qase.run(qase_run(42, &tags, Some((1, 1))));
    let result = |case: u64, status: &str, at| {
        delivery(
            "result.created",
            42,
            at,
            json!({"case_id": case, "status": status}),
        )
    };
    let events = vec![
        started(42),
        result(1, "passed", 1_010),
        result(2, "failed", 1_020),
        completed(42, 1),
    ];
    let mut all = events.clone();
    all.extend(events);
    let order = shuffled(all, 30);
    let (first, second) = order.split_at(order.len() / 2);
    for body in first {
        worker.accept_or_duplicate(body.clone()).await;
    }
    futures_util::future::join_all(second.iter().map(|b| worker.accept_or_duplicate(b.clone())))
        .await;
    wait_for_github(&worker, &github, 2, ["passed", "failed"]).await;
    // Anything that would post again has had time to.
    tokio::time::sleep(Duration::from_secs(5)).await;

    assert_eq!(
        states(&github, "octo/web"),
        ["pending", "success"],
        "{}",
        worker.logs()
    );
    assert_eq!(states(&github, "octo/strict"), ["pending", "failure"]);
    let strict = &github.statuses("octo/strict")[1].body;
    assert!(
        strict["description"]
            .as_str()
            .unwrap()
            .contains("1 failed (at most 0 allowed)"),
        "{strict}"
    );
    assert_eq!(
        strict["target_url"],
        "https://app.qase.io/run/WEB/dashboard/42"
    );
    for (repo, word) in [("octo/web", "passed"), ("octo/strict", "failed")] {
        let comments = github.comments(repo);
        assert_eq!(comments.len(), 1, "exactly one comment on {repo}");
        let comment = &comments[0];
        assert!(comment.edits >= 1, "edited in place");
        assert!(
            comment.body.starts_with("<!-- qase-edge:run:WEB/42 -->"),
            "{}",
            comment.body
        );
        assert!(
            comment.body.contains(&format!("Qase run WEB/42: {word}")),
            "{}",
            comment.body
        );
        assert!(
            comment.body.contains("| 50% | 2 | 1 | 1 | 0 |"),
            "{}",
            comment.body
        );
        // The hostile title, as the run's and as the failed case's.
        assert_eq!(
            comment.body.matches("@\u{200B}octo/team").count(),
            2,
            "{}",
            comment.body
        );
        for never in ["@octo", "[click](", "<img", "(https://evil"] {
            assert!(!comment.body.contains(never), "{never} in {}", comment.body);
        }
    }

    // A replay of the run's events to both changes nothing on GitHub.
    let requests = github.requests().len();
    let before = (attempts(&worker, "gh"), attempts(&worker, "strict"));
    let (status, replay) = worker
        .api_with(
            reqwest::Method::POST,
            "/api/replay",
            &json!({"run": 42, "destinations": ["gh", "strict"]}).to_string(),
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    let messages = replay["messages"].as_u64().unwrap() as usize;
    assert!(messages >= 2, "{replay}");
    worker
        .wait_until(
            "the replay's attempts",
            Duration::from_secs(40),
            async || {
                let now = (attempts(&worker, "gh"), attempts(&worker, "strict"));
                (now.0 + now.1 >= before.0 + before.1 + messages).then_some(())
            },
        )
        .await;
    assert_eq!(
        github.requests().len(),
        requests,
        "{:?}",
        &github.requests()[requests..]
    );
    assert_eq!(states(&github, "octo/web"), ["pending", "success"]);
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_and_a_wrong_token_is_a_dead_letter() {
    let qase = QaseApi::start("qase-api-token");
    let tags = vec![format!("sha:{SHA}")];
    qase.run(qase_run(43, &tags, None));
    let github = Github::start(TOKEN, &["octo/web"]);
    github.refuse_next(Refusal {
        status: 403,
        headers: vec![("Retry-After".into(), "2".into())],
        body: json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}).to_string(),
    });
    let destinations = json!([
        github_destination("gh", &github, "octo/web", json!({})),
        github_destination(
            "wrong",
            &github,
            "octo/web",
            json!({"token_secret": "WRONG_TOKEN"})
        ),
    ]);
    let worker = worker(&qase, destinations);
    worker.accept(started(43)).await;
    qase.run(qase_run(43, &tags, Some((2, 0))));
    worker.accept(completed(43, 0)).await;
    worker
        .wait_until("the success status", Duration::from_secs(40), async || {
            states(&github, "octo/web")
                .contains(&"success".to_owned())
                .then_some(())
        })
        .await;
    let requests = github.requests();
    assert!(
        requests.iter().any(|(_, status)| *status == 403),
        "{requests:?}"
    );
    assert!(
        worker.logs().contains("rate limit; waited out (2 s)"),
        "{}",
        worker.logs()
    );
    // Only the right token's statuses reached GitHub.
    assert!(!states(&github, "octo/web").is_empty());
    assert!(requests.iter().any(|(_, status)| *status == 401));

    let sql = "SELECT * FROM deliveries WHERE destination = 'wrong' AND status = 'dead'";
    let dead = worker
        .wait_until(
            "the wrong token's dead letter",
            Duration::from_secs(40),
            async || {
                let rows = worker.d1(sql, &[]).await;
                (!rows.is_empty()).then_some(rows)
            },
        )
        .await;
    let row = dead[0].to_string();
    assert!(row.contains("GitHub refused the token"), "{row}");
}

#[tokio::test]
async fn a_comment_deleted_on_github_is_made_again_and_not_dead_lettered() {
    let qase = QaseApi::start("qase-api-token");
    let tags = vec![format!("sha:{SHA}"), "pr:8".to_owned()];
    qase.run(qase_run(44, &tags, None));
    let github = Github::start(TOKEN, &["octo/web"]);
    let destinations = json!([github_destination("gh", &github, "octo/web", json!({}))]);
    let worker = worker(&qase, destinations);
    worker.accept(started(44)).await;
    let first = worker
        .wait_until("the running comment", Duration::from_secs(40), async || {
            github.comments("octo/web").first().map(|c| c.id)
        })
        .await;

    // Someone deletes it on GitHub; the run ends.
    github.delete_comments("octo/web");
    qase.run(qase_run(44, &tags, Some((2, 0))));
    worker.accept(completed(44, 0)).await;
    let comments = worker
        .wait_until(
            "the comment made again",
            Duration::from_secs(40),
            async || {
                let comments = github.comments("octo/web");
                (!comments.is_empty()).then_some(comments)
            },
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let comments_now = github.comments("octo/web");
    assert_eq!(comments_now.len(), 1, "made again once: {comments_now:?}");
    assert_ne!(comments[0].id, first, "a new comment");
    assert!(
        comments_now[0].body.contains("Qase run WEB/44: passed"),
        "{}",
        comments_now[0].body
    );
    assert_eq!(states(&github, "octo/web"), ["pending", "success"]);
    let patched_gone = format!("PATCH /repos/octo/web/issues/comments/{first}");
    assert!(
        github
            .requests()
            .iter()
            .any(|(line, status)| line.starts_with(&patched_gone) && *status == 404),
        "{:?}",
        github.requests()
    );
    let sql = "SELECT * FROM deliveries WHERE destination = 'gh' AND status = 'dead'";
    assert!(worker.d1(sql, &[]).await.is_empty(), "no dead letter");
}
