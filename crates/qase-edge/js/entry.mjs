// The Worker's entry module: the entrypoint class that worker-build
// generates from the Rust crate, with the ingest route served by three
// synchronous calls into Wasm instead of wasm-bindgen's async bridge
// (crates/qase-edge/src/shell/hot_path.rs; BENCHMARKS.md has why).
//
// This file decides nothing: no status codes, key names or checks. It reads
// the body once, performs the reads and writes the Rust decision lists, and
// returns the Response the decision built. Every other route, and a body
// without Content-Length, goes to the Rust `fetch` handler. The calls go
// through the class's own methods, so worker-build's panic recovery (a new
// Wasm instance after a panic) covers them.
import Base from "./index.js";

export * from "./index.js";

const wasm = Base.prototype;

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

    const body = new Uint8Array(await request.arrayBuffer());
    const decision = wasm.qase_ingest.call(this, env, length, secret, type, body, Date.now());
    if (decision.done) return decision.response();

    let seen = false;
    let failure;
    try {
      const kv = env[decision.kv_binding];
      const seenKey = decision.seen_key;
      if (seenKey !== undefined) seen = (await kv.get(seenKey, "arrayBuffer")) !== null;
      if (!seen) await Promise.all(writes(decision, env, kv, body));
    } catch (error) {
      failure = String(error?.message ?? error);
    }
    wasm.qase_finish.call(this, env, decision, seen, failure);

    const markKey = decision.mark_key;
    if (markKey !== undefined) {
      const marker = env[decision.kv_binding].put(markKey, "", { expirationTtl: decision.mark_ttl });
      // Only duplicate detection depends on it: a failure is logged, not answered.
      this.ctx.waitUntil(marker.catch((error) => console.warn(`duplicate marker not written: ${error}`)));
    }
    return decision.response();
  }
}

/// The KV puts and the queue send a decision lists, all started at once.
function writes(decision, env, kv, body) {
  const pending = [];
  for (let i = 0; i < decision.kv_count; i++) {
    const options = { expirationTtl: decision.kv_ttl(i) };
    const metadata = decision.kv_metadata(i);
    if (metadata !== undefined) options.metadata = JSON.parse(metadata);
    pending.push(kv.put(decision.kv_key(i), decision.kv_stores_body(i) ? body : "", options));
  }
  const message = decision.queue_message;
  if (message !== undefined) pending.push(env[decision.queue_binding].send(JSON.parse(message)));
  return pending;
}
