// The Worker's entry module: the entrypoint class that worker-build
// generates from the Rust crate, with the ingest route served by
// synchronous calls into Wasm instead of wasm-bindgen's async bridge
// (crates/qase-edge/src/ingest/hot_path.rs; BENCHMARKS.md has why).
//
// This file decides nothing: no status codes, headers, key names, SQL or
// checks. It hands the header facts over once, reads the body once, runs
// each round of reads and writes the Rust decision lists (all of a round at
// once), reports how each went, and wraps the status and bytes the decision
// answers in a Response. Every other route, and a body without
// Content-Length, goes to the Rust `fetch` handler. The calls go through the
// class's own methods, so worker-build's panic recovery (a new Wasm instance
// after a panic) covers them.
import Base from "./index.js";

export * from "./index.js";

const wasm = Base.prototype;
// The values of `hot_path::Step` (explicit discriminants there): worker-build's
// shim exports the classes of the Rust crate, not its enums.
const Step = Object.freeze({ Stream: 0, ReadBody: 1, Run: 2, Answer: 3, AnswerWithHeader: 4 });
const utf8 = new TextDecoder();
// The answer's headers, from the Rust side, once per isolate (name, value, ...).
let answerHeaders;

export default class QaseEdge extends Base {
  async fetch(request) {
    const env = this.env;
    const headers = request.headers;
    const decision = wasm.qase_begin.call(
      this,
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
      return super.fetch(request);
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
      wasm.qase_ingest.call(this, env, decision, body);
      step = decision.step;
      while (step === Step.Run) {
        const count = decision.op_count;
        const runs = [];
        for (let i = 0; i < count; i++) runs.push(run(decision, i, env, body));
        const settled = await Promise.allSettled(runs);
        const values = new Float64Array(count);
        const failures = new Array(count);
        settled.forEach((result, i) => {
          if (result.status === "fulfilled") values[i] = result.value;
          else failures[i] = String(result.reason?.message ?? result.reason);
        });
        wasm.qase_feed.call(this, env, decision, values, failures);
        step = decision.step;
      }
      const markKey = decision.mark_key;
      if (markKey !== undefined) {
        const marker = env[decision.kv_binding].put(markKey, "", { expirationTtl: decision.mark_ttl });
        // Only duplicate detection depends on it: a failure is logged, not answered.
        this.ctx.waitUntil(marker.catch((error) => console.warn(`duplicate marker not written: ${error}`)));
      }
    }
    return answer(this, decision, step);
  }
}

/// The decided answer as a Response: status, JSON bytes, the headers.
function answer(worker, decision, step) {
  if (answerHeaders === undefined) {
    const pairs = wasm.qase_answer_headers.call(worker);
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
