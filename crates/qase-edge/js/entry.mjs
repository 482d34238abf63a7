// The Worker's entry module: the entrypoint class that worker-build
// generates from the Rust crate, with the ingest route served by
// synchronous calls into Wasm instead of wasm-bindgen's async bridge
// (crates/qase-edge/src/ingest/hot_path.rs; BENCHMARKS.md has why).
//
// This file decides nothing: no status codes, key names, SQL or checks. It
// reads the body once, runs each round of reads and writes the Rust
// decision lists (all of a round at once), reports how each went, and
// returns the Response the decision built. Every other route, and a body
// without Content-Length, goes to the Rust `fetch` handler. The calls go
// through the class's own methods, so worker-build's panic recovery (a new
// Wasm instance after a panic) covers them.
import Base from "./index.js";

export * from "./index.js";

const wasm = Base.prototype;
const utf8 = new TextDecoder();

export default class QaseEdge extends Base {
  async fetch(request) {
    const env = this.env;
    const headers = request.headers;
    const length = headers.get("content-length");
    const secret = headers.get("x-qase-secret");
    const type = headers.get("content-type");
    const begun = wasm.qase_begin.call(this, env, request.method, request.url, length, secret, type);
    if (begun.stream_path) return super.fetch(request);
    if (begun.done) return begun.response();

    let body;
    try {
      body = new Uint8Array(await request.arrayBuffer());
    } catch {
      // The client went away or sent less than it declared: the Rust
      // handler answers that (and logs it) as for any unreadable body.
      body = undefined;
    }
    const decision = wasm.qase_ingest.call(this, env, length, secret, type, body, Date.now());
    while (!decision.done) {
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
    }

    const markKey = decision.mark_key;
    if (markKey !== undefined) {
      const marker = env[decision.kv_binding].put(markKey, "", { expirationTtl: decision.mark_ttl });
      // Only duplicate detection depends on it: a failure is logged, not answered.
      this.ctx.waitUntil(marker.catch((error) => console.warn(`duplicate marker not written: ${error}`)));
    }
    return decision.response();
  }
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
