// Cold start, per isolate, inside one workerd: what a fresh isolate of a
// Worker costs, without Node and workerd starting (which dominate a new
// Miniflare's start-up and vary by seconds under load).
//
// For each Worker it starts Miniflare twice, with 1 copy and with COPIES
// copies of the Worker (each copy its own isolate, as workerd runs every
// configured worker in its own), and reports the difference of the two
// start-ups divided by COPIES - 1: the start-up of one more isolate
// (loading its modules, compiling its Wasm, evaluating its top level).
// It then sends each copy of the many one request, the first it sees, and
// reports the median time to that first answer (instantiating the Wasm
// where a Worker does it on first use), and the median of a second request
// for comparison. Rounds alternate between the Workers, so that a change
// in the machine's load touches every row alike.
//
//   node bench/cold-start.mjs [COPIES=12] [ROUNDS=3]
//
// Prints a Markdown table. Only the validation path is asked: every copy
// gets a delivery with a wrong secret (401), the same request for all.
import fs from "node:fs";
import { Log, LogLevel, Miniflare } from "miniflare";

const copies = Number(process.argv[2] ?? 12);
const rounds = Number(process.argv[3] ?? 3);
const secret = "bench-secret";
const BUILD = "crates/qase-edge/build";

const workers = [
  { name: "no-op Worker", script: "bench/noop/worker.js", vars: {} },
  { name: "no-op Worker in Rust", script: "bench/rust-noop/build/index.js", vars: {} },
  { name: "peer (the receiver)", script: "bench/peer/worker.js", vars: { QASE_WEBHOOK_SECRET: secret, SINKS: "none" } },
  // One KV namespace, so that the configuration has a sink and the request
  // is refused for its secret (401), not for a missing store (503).
  { name: "qase-edge", script: "crates/qase-edge/build/entry.mjs", vars: { QASE_WEBHOOK_SECRET: secret }, kv: ["QASE_EVENTS"] },
  // The same entry and ingest module without the shell's module in the
  // bundle: what an isolate would cost if the shell lived in a Worker of its
  // own (the runtime compiles every Wasm module of a bundle when an isolate
  // starts, imported or not).
  {
    name: "qase-edge's entry and ingest module alone (no shell module)",
    modules: [
      {
        type: "ESModule",
        path: "entry.mjs",
        contents: fs
          .readFileSync(`${BUILD}/entry.mjs`, "utf8")
          .replace('import("./index.js")', 'Promise.reject(new Error("not in this bundle"))'),
      },
      { type: "ESModule", path: "ingest/ingest.js", contents: fs.readFileSync(`${BUILD}/ingest/ingest.js`, "utf8") },
      { type: "CompiledWasm", path: "ingest/ingest_bg.wasm", contents: fs.readFileSync(`${BUILD}/ingest/ingest_bg.wasm`) },
    ],
    vars: { QASE_WEBHOOK_SECRET: secret },
    kv: ["QASE_EVENTS"],
  },
  // The no-op with the shell's Wasm among its modules, never instantiated:
  // what loading (compiling) that module costs on its own.
  {
    name: "no-op Worker carrying the shell's Wasm, unused",
    modules: [
      {
        type: "ESModule",
        path: "carry.mjs",
        contents: `import wasm from "./index_bg.wasm";
          export default { async fetch() { return new Response(String(wasm instanceof WebAssembly.Module)); } };`,
      },
      { type: "CompiledWasm", path: "index_bg.wasm", contents: fs.readFileSync(`${BUILD}/index_bg.wasm`) },
    ],
    vars: {},
  },
];

function options(worker, count) {
  return {
    workers: Array.from({ length: count }, (_, i) => ({
      name: `w${i}`,
      ...(worker.modules
        ? { modules: worker.modules }
        : {
            modules: true,
            modulesRules: [
              { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
              { type: "CompiledWasm", include: ["**/*.wasm"] },
            ],
            scriptPath: worker.script,
          }),
      compatibilityDate: "2026-04-01",
      bindings: worker.vars,
      kvNamespaces: worker.kv ?? [],
    })),
    host: "127.0.0.1",
    port: 0,
    cf: false,
    log: new Log(LogLevel.WARN),
    // The Workers' own log lines (qase-edge logs each refused delivery)
    // would mix with the table on standard output.
    handleRuntimeStdio(stdout, stderr) {
      stdout.resume();
      stderr.pipe(process.stderr);
    },
  };
}

/// Milliseconds from `new Miniflare` to ready.
async function start(worker, count) {
  const began = performance.now();
  const mf = new Miniflare(options(worker, count));
  await mf.ready;
  return { mf, ms: performance.now() - began };
}

const body = '{"event_name":"run.completed","timestamp":1,"payload":{},"team_member_id":1,"project_code":"DEMO"}';
async function ask(mf, name) {
  const target = await mf.getWorker(name);
  const began = performance.now();
  const response = await target.fetch("http://bench/webhooks/qase", {
    method: "POST",
    // With its length, as Qase sends it: without one, qase-edge streams
    // the body through the shell's module instead.
    headers: { "content-type": "application/json", "x-qase-secret": "wrong", "content-length": String(body.length) },
    body,
  });
  const text = await response.text();
  if (response.status >= 500) throw new Error(`${name}: ${response.status} ${text}`);
  return performance.now() - began;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

const rows = new Map(workers.map((w) => [w.name, { isolate: [], first: [], second: [] }]));
for (let round = 0; round < rounds; round++) {
  for (const worker of workers) {
    const one = await start(worker, 1);
    await one.mf.dispose();
    const many = await start(worker, copies);
    const row = rows.get(worker.name);
    row.isolate.push((many.ms - one.ms) / (copies - 1));
    for (let i = 0; i < copies; i++) {
      row.first.push(await ask(many.mf, `w${i}`));
      row.second.push(await ask(many.mf, `w${i}`));
    }
    await many.mf.dispose();
    console.error(`round ${round + 1}: ${worker.name}: 1 copy ${one.ms.toFixed(0)} ms, ${copies} copies ${many.ms.toFixed(0)} ms`);
  }
}
console.log(`| Worker | one more isolate at start-up, ms (median of ${rounds}) | first request to a fresh isolate, ms | a second request, ms |`);
console.log("|---|---|---|---|");
for (const [name, row] of rows) {
  console.log(`| ${name} | ${median(row.isolate).toFixed(1)} | ${median(row.first).toFixed(2)} | ${median(row.second).toFixed(2)} |`);
}
