// The Worker's entry module. Two Wasm modules sit behind it:
//
// - the ingest module (crates/qase-edge-ingest, ./ingest/ingest.js), under
//   two fifths of the shell's size, instantiated when the isolate starts:
//   it decides the request Qase sends, `POST /webhooks/qase` with a
//   declared length;
// - the shell (crates/qase-edge, worker-build's ./index.js): every other
//   route, a body without Content-Length, the queue consumers, the cron and
//   the Durable Objects. It is imported on first use only, so an isolate
//   that only takes deliveries never starts it (the runtime still compiles
//   every Wasm module of the bundle when an isolate starts: BENCHMARKS.md,
//   cold start).
//
// This file decides nothing: no status codes, headers, key names, SQL or
// checks. It hands the header facts over once, reads the body once, runs
// each round of reads and writes the Rust decision lists (all of a round at
// once), reports how each went, and wraps the status and bytes the decision
// answers in a Response.
//
// A panic in the ingest module (a trap) fails its request; the next request
// gets a fresh instance (`__wbg_reset_state`), as worker-build's own
// recovery does for the shell.
import { WorkerEntrypoint } from "cloudflare:workers";
import * as ingest from "./ingest/ingest.js";

const { Step } = ingest;
const utf8 = new TextDecoder();
// The answer's headers, from the Rust side, once per isolate (name, value, ...).
let answerHeaders;
// Bumped when the ingest module is started afresh after a panic: a decision
// of the old instance is never handed to the new one.
let generation = 0;
let crashed = false;

// The shell's ignored-delivery count adds the ingest module's (GET /health);
// the two modules share only this global (crates/qase-edge/src/ingest).
globalThis.qaseEdgeIngestIgnored = () => ingest.qase_ignored_since_start();

/// The shell's module, imported once, on first use (again after a failed
/// import, rather than failing every later call of the isolate).
let shellModule;
function shell() {
  shellModule ??= import("./index.js").catch((error) => {
    shellModule = undefined;
    throw error;
  });
  return shellModule;
}

/// worker-build's entrypoint, for this invocation's env and ctx.
async function shellEntrypoint(worker) {
  const { default: Shell } = await shell();
  return new Shell(worker.ctx, worker.env);
}

export default class QaseEdge extends WorkerEntrypoint {
  async fetch(request) {
    if (crashed) {
      ingest.__wbg_reset_state();
      crashed = false;
      generation++;
    }
    let response;
    try {
      response = await this.ingest(request);
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) crashed = true;
      throw error;
    }
    return response ?? (await shellEntrypoint(this)).fetch(request);
  }

  async queue(batch) {
    return (await shellEntrypoint(this)).queue(batch);
  }

  async scheduled(controller) {
    return (await shellEntrypoint(this)).scheduled(controller);
  }

  /// The ingest module's answer, or `undefined` for the shell to serve.
  async ingest(request) {
    const env = this.env;
    const headers = request.headers;
    const decision = ingest.qase_begin(
      env,
      request.method,
      request.url,
      headers.get("content-length"),
      headers.get("x-qase-secret"),
      headers.get("content-type"),
      Date.now(),
    );
    let step = decision.step;
    if (step === Step.Stream) {
      decision.free();
      return undefined;
    }
    if (step === Step.ReadBody) {
      let body;
      try {
        body = new Uint8Array(await request.arrayBuffer());
      } catch {
        // The client went away or sent less than it declared: the Rust
        // side answers that (and logs it) as for any unreadable body.
        body = undefined;
      }
      const started = generation;
      ingest.qase_ingest(env, decision, body);
      step = decision.step;
      while (step === Step.Run) {
        const count = decision.op_count;
        const runs = [];
        for (let i = 0; i < count; i++) runs.push(run(decision, i, env, body));
        const settled = await Promise.allSettled(runs);
        if (generation !== started) throw new Error("the ingest module was restarted after a panic");
        const values = new Float64Array(count);
        const failures = new Array(count);
        settled.forEach((result, i) => {
          if (result.status === "fulfilled") values[i] = result.value;
          else failures[i] = String(result.reason?.message ?? result.reason);
        });
        ingest.qase_feed(env, decision, values, failures);
        step = decision.step;
      }
      const markKey = decision.mark_key;
      if (markKey !== undefined) {
        const marker = env[decision.kv_binding].put(markKey, "", { expirationTtl: decision.mark_ttl });
        // Only duplicate detection depends on it: a failure is logged, not answered.
        this.ctx.waitUntil(marker.catch((error) => console.warn(`duplicate marker not written: ${error}`)));
      }
    }
    return answer(decision, step);
  }
}

/// A Durable Object class of the shell, loaded on its object's first call.
/// The runtime constructs this class; the shell's is constructed once per
/// object, with the same state and env, and takes every call.
function lazyObject(name) {
  return class {
    constructor(state, env) {
      this.state = state;
      this.env = env;
    }
    object() {
      this.inner ??= shell()
        .then((module) => new module[name](this.state, this.env))
        .catch((error) => {
          this.inner = undefined;
          throw error;
        });
      return this.inner;
    }
    async fetch(request) {
      return (await this.object()).fetch(request);
    }
    async alarm(info) {
      return (await this.object()).alarm(info);
    }
  };
}

export const Pacer = lazyObject("Pacer");
export const RunWatch = lazyObject("RunWatch");
export const Breaker = lazyObject("Breaker");

/// The decided answer as a Response: status, JSON bytes, the headers.
function answer(decision, step) {
  if (answerHeaders === undefined) {
    const pairs = ingest.qase_answer_headers();
    answerHeaders = [];
    for (let i = 0; i < pairs.length; i += 2) answerHeaders.push([pairs[i], pairs[i + 1]]);
  }
  let headers = answerHeaders;
  if (step === Step.AnswerWithHeader) headers = [...headers, [decision.header_name, decision.header_value]];
  const status = decision.status;
  const body = decision.take_answer();
  decision.free();
  return new Response(body, { status, headers });
}

/// Runs operation `i` of the decision's round; its value (see `op_kind`).
async function run(decision, i, env, body) {
  switch (decision.op_kind(i)) {
    case "record": {
      const params = JSON.parse(decision.op_params(i));
      const bodyIndex = decision.op_body_index(i);
      if (bodyIndex !== undefined) params[bodyIndex] = utf8.decode(body);
      const row = await env[decision.db_binding].prepare(decision.op_sql(i)).bind(...params).first();
      return row?.duplicates ?? 0;
    }
    case "lookup": {
      const found = await env[decision.kv_binding].get(decision.op_key(i), "arrayBuffer");
      return found === null ? 0 : 1;
    }
    case "put": {
      const options = {};
      const ttl = decision.op_ttl(i);
      if (ttl !== undefined) options.expirationTtl = ttl;
      const metadata = decision.op_metadata(i);
      if (metadata !== undefined) options.metadata = JSON.parse(metadata);
      await env[decision.kv_binding].put(decision.op_key(i), decision.op_stores_body(i) ? body : "", options);
      return 0;
    }
    case "send":
      await env[decision.queue_binding].send(JSON.parse(decision.op_message(i)));
      return 0;
    default:
      throw new Error(`unknown operation ${decision.op_kind(i)}`);
  }
}
