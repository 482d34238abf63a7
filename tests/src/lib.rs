//! Harness for the end-to-end tests: serves the built Worker bundle through
//! Miniflare (the real workerd runtime) with the bindings of the root
//! `wrangler.toml`, via `tests/support/serve.mjs`, and reads back what the
//! Worker stored through that script's control server.
//!
//! Each [`Worker`] is its own workerd with its own free port and its own
//! storage. The Node process exits when its stdin closes, so no workerd
//! outlives the test process, whether it ends normally, panics or is killed.
//!
//! The bundle must be built first (`scripts/test` does it; or
//! `scripts/build-worker`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The secret the default test configuration accepts.
pub const SECRET: &str = "e2e-secret";

/// The operator token (`QASE_ADMIN_TOKEN`) of every test that opens the API.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

/// How many of the Worker's last log lines a failed wait prints.
const RECENT_LOG_LINES: usize = 80;

/// How to configure a Worker for a test.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Variables and secrets, over wrangler.toml's `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// Bindings of wrangler.toml to leave out (to make a sink fail).
    pub omit_bindings: Vec<String>,
    /// Bindings replaced by one whose every call fails: a store that is down.
    pub faults: Vec<String>,
    /// How long the delivery queue's consumer waits to fill a batch, in
    /// seconds, over wrangler.toml's `max_batch_timeout` (0: it takes each
    /// message at once). A test that needs two copies of a message in the
    /// queue before the first is taken sets a wait.
    pub delivery_batch_wait: Option<u32>,
}

impl WorkerOptions {
    /// Options with the default test secret.
    pub fn with_secret() -> WorkerOptions {
        WorkerOptions::default().var("QASE_WEBHOOK_SECRET", SECRET)
    }

    /// Options with the default test secret and the operator API open
    /// with [`ADMIN_TOKEN`].
    pub fn with_api() -> WorkerOptions {
        WorkerOptions::with_secret().var("QASE_ADMIN_TOKEN", ADMIN_TOKEN)
    }

    /// Sets a variable or secret.
    pub fn var(mut self, key: &str, value: &str) -> WorkerOptions {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Leaves a binding out.
    pub fn omit(mut self, binding: &str) -> WorkerOptions {
        self.omit_bindings.push(binding.to_owned());
        self
    }

    /// Makes every call of a binding (`QASE_EVENTS`, `QASE_DELIVERIES`,
    /// `QASE_DB`, ...) fail, as when that store is down.
    pub fn fault(mut self, binding: &str) -> WorkerOptions {
        self.faults.push(binding.to_owned());
        self
    }

    /// Makes the delivery queue's consumer wait `seconds` to fill a batch.
    pub fn delivery_batch_wait(mut self, seconds: u32) -> WorkerOptions {
        self.delivery_batch_wait = Some(seconds);
        self
    }
}

/// A served Worker.
pub struct Worker {
    child: Mutex<Child>,
    url: String,
    control: String,
    logs: Arc<Mutex<String>>,
    storage: Option<tempdir::Dir>,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Worker {
    /// Starts a Worker and waits until it serves.
    pub fn start(options: WorkerOptions) -> Worker {
        Worker::start_on(options, tempdir::Dir::new())
    }

    /// Stops this Worker and starts another with `options` on the same
    /// storage (KV, queues, D1): a store that was down comes back, or the
    /// configuration changes, and what was stored is still there.
    pub fn restart(mut self, options: WorkerOptions) -> Worker {
        let storage = self.storage.take().expect("a running Worker has storage");
        self.stop(true);
        Worker::start_on(options, storage)
    }

    fn start_on(options: WorkerOptions, storage: tempdir::Dir) -> Worker {
        let root = repo_root();
        let bundle = root.join("crates/qase-edge/build/index.js");
        assert!(
            bundle.exists(),
            "no Worker bundle at {}: run scripts/test (or scripts/build-worker) first",
            bundle.display()
        );
        let spec = json!({
            "config": root.join("wrangler.toml"),
            "vars": options.vars,
            "omitBindings": options.omit_bindings,
            "faults": options.faults,
            "deliveryBatchWait": options.delivery_batch_wait,
            "persist": storage.path(),
        });
        let mut child = Command::new("node")
            .arg(root.join("tests/support/serve.mjs"))
            .arg(spec.to_string())
            .current_dir(&root)
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node must be on PATH to serve the Worker");

        let logs = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out_logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(ready) = serde_json::from_str::<Value>(&line) {
                    if ready["ready"] == true {
                        let _ = ready_tx.send(ready);
                        continue;
                    }
                }
                out_logs.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let err_logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_logs.lock().unwrap().push_str(&(line + "\n"));
            }
        });

        let started = Instant::now();
        let ready = loop {
            match ready_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ready) => break ready,
                Err(_) if started.elapsed() > Duration::from_secs(60) => {
                    let _ = child.kill();
                    panic!(
                        "the Worker did not start within 60 s:\n{}",
                        logs.lock().unwrap()
                    );
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "the Worker exited with {status} before serving:\n{}",
                            logs.lock().unwrap()
                        );
                    }
                }
            }
        };
        Worker {
            child: Mutex::new(child),
            url: ready["url"].as_str().unwrap().to_owned(),
            control: ready["control"].as_str().unwrap().to_owned(),
            logs,
            storage: Some(storage),
        }
    }

    /// The Worker's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Everything the Worker logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The Worker's last log lines, for the message of a failed wait.
    pub fn recent_logs(&self) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(RECENT_LOG_LINES)..].join("\n")
    }

    /// Panics: `what` did not happen within `limit`; names it and shows the
    /// Worker's last log lines.
    pub fn timed_out(&self, what: &str, limit: Duration) -> ! {
        panic!(
            "timed out after {limit:?} waiting for {what}\n\
             --- the Worker's last {RECENT_LOG_LINES} log lines ---\n{}",
            self.recent_logs()
        )
    }

    /// The logs once `ready` holds for them (log lines reach the test a
    /// moment after the response); panics naming `what` after 10 s.
    pub fn logs_when(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let limit = Duration::from_secs(10);
        let deadline = Instant::now() + limit;
        loop {
            let logs = self.logs();
            if ready(&logs) {
                return logs;
            }
            if Instant::now() > deadline {
                self.timed_out(what, limit);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The logs once they contain `needle`; panics after 10 s.
    pub fn logs_containing(&self, needle: &str) -> String {
        self.logs_when(&format!("a log line with `{needle}`"), |logs| {
            logs.contains(needle)
        })
    }

    /// Polls `probe` every 50 ms until it gives `Some`, and returns that;
    /// panics naming `what` after `limit`, with the Worker's last log lines.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        limit: Duration,
        mut probe: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if Instant::now() > deadline {
                self.timed_out(what, limit);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts a delivery with the test secret, asserts it was accepted
    /// (`202`) and returns its event id.
    pub async fn accept(&self, body: Vec<u8>) -> String {
        let (status, answer) = post(self, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        answer["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {answer}"))
            .to_owned()
    }

    /// Posts a delivery that may be a copy of one already taken, with the
    /// test secret; asserts `202`, or `200` for a duplicate.
    pub async fn accept_or_duplicate(&self, body: Vec<u8>) {
        let (status, answer) = post(self, body, &[("X-Qase-Secret", SECRET)]).await;
        assert!(status == 202 || status == 200, "{status}: {answer}");
    }

    /// A request to the operator API's `path`, with [`ADMIN_TOKEN`].
    pub fn api_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// `method path` on the operator API with [`ADMIN_TOKEN`] and no body:
    /// the status and the JSON answer (`Null` when it is not JSON).
    pub async fn api(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        answer(self.api_request(method, path)).await
    }

    /// [`Worker::api`] with `body`.
    pub async fn api_with(&self, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
        answer(self.api_request(method, path).body(body.to_owned())).await
    }

    /// `GET /health`'s JSON.
    pub async fn health(&self) -> Value {
        reqwest::get(self.url("/health"))
            .await
            .expect("the Worker answers")
            .json()
            .await
            .expect("health is JSON")
    }

    /// A KV value and its metadata, `None` when the key is absent.
    pub async fn kv_get(&self, key: &str) -> Option<(Vec<u8>, Value)> {
        let response = reqwest::Client::new()
            .get(format!("{}/kv/get", self.control))
            .query(&[("key", key)])
            .send()
            .await
            .expect("control server answers");
        match response.status().as_u16() {
            404 => None,
            200 => {
                let metadata = response.headers()["x-metadata"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let body = response.bytes().await.unwrap().to_vec();
                Some((body, serde_json::from_str(&metadata).unwrap()))
            }
            other => panic!(
                "control server: {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }

    /// The KV keys (with metadata and expiration) under `prefix`.
    pub async fn kv_list(&self, prefix: &str) -> Vec<Value> {
        reqwest::Client::new()
            .get(format!("{}/kv/list", self.control))
            .query(&[("prefix", prefix)])
            .send()
            .await
            .expect("control server answers")
            .json()
            .await
            .unwrap()
    }

    /// The rows `sql` selects from the Worker's D1 database (`QASE_DB`).
    pub async fn d1(&self, sql: &str, params: &[Value]) -> Vec<Value> {
        let response = reqwest::Client::new()
            .post(format!("{}/d1/query", self.control))
            .json(&json!({"sql": sql, "params": params}))
            .send()
            .await
            .expect("control server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "D1 query `{sql}` failed: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Fires the cron trigger once and waits for its handler to finish.
    pub async fn scheduled(&self) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/scheduled", self.control))
            .send()
            .await
            .expect("control server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "the scheduled handler failed: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Worker {
    /// Closing stdin makes serve.mjs dispose of workerd and exit; with
    /// `keep`, it leaves the storage for the next Worker.
    fn stop(&mut self, keep: bool) {
        use std::io::Write;
        let mut child = self.child.lock().unwrap();
        if let Some(mut stdin) = child.stdin.take() {
            if keep {
                let _ = stdin.write_all(b"keep\n");
                let _ = stdin.flush();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// A temporary directory removed on drop (std has none; one is all we need).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "qase-edge-e2e-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A delivery envelope for `event_name` with `payload`, as Qase would send it.
pub fn envelope(event_name: &str, project: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_name": event_name,
        "timestamp": 1_764_000_000u64,
        "payload": payload,
        "team_member_id": 7,
        "project_code": project,
    }))
    .unwrap()
}

/// Sends `request`: the status and the JSON answer (`Null` when it is not JSON).
pub async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the Worker answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts `body` to the ingest route with `headers`.
pub async fn post(worker: &Worker, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(worker.url("/webhooks/qase"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the Worker answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text}"));
    (status, json)
}

/// Sends a hand-written HTTP/1.1 request over TCP (for what an HTTP client
/// will not send: chunked bodies without a length, odd headers) and returns
/// the status and body.
pub async fn raw_request(worker: &Worker, request: &[u8]) -> (u16, String) {
    let address = worker.url.trim_start_matches("http://").to_owned();
    let request = request.to_vec();
    // Plain blocking sockets with timeouts, on a blocking thread: the Worker
    // may answer (401, 413) and close before the whole body is written,
    // which must still yield its answer, and nothing may hang.
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).expect("the Worker listens");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let _ = stream.write_all(&request);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        response
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:.300}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A chunked `POST /webhooks/qase` (no `Content-Length`) with `secret`.
pub fn chunked_post(secret: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut request = format!(
        "POST /webhooks/qase HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         X-Qase-Secret: {secret}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for part in body.chunks(chunk) {
        request.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        request.extend_from_slice(part);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

/// The crate's fixtures: (file name, body) for every documented event and variant.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("crates/qase-webhooks/tests/fixtures");
    let mut files = Vec::new();
    for dir in [dir.clone(), dir.join("variants")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The `qase-hook` binary, built once (debug) into the workspace's target
/// directory, for tests that run it as a process against a served Worker.
pub fn qase_hook_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--locked",
                    "-p",
                    "qase-hook",
                    "--bin",
                    "qase-hook",
                ])
                .current_dir(repo_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "qase-hook did not build");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("debug").join("qase-hook")
        })
        .clone()
}

pub mod access;
pub mod github;
pub mod http;
pub mod qase_api;
pub mod sink;

/// Serves a free loopback port from a thread of its own, with its own
/// runtime (so a test may block its own), handing each connection to
/// `serve`; returns the port. The local stand-ins for what the Worker calls
/// (the sink, Qase's API) are built on it.
fn serve_on_loopback<F, Served>(serve: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Served + Send + 'static,
    Served: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream));
            }
        });
    });
    port
}
