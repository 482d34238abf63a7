// CPU per ingest decision, inside workerd, without HTTP: each request to a
// measuring Worker makes N decisions in a loop (qase_begin, qase_ingest, the
// answer, as js/entry.mjs makes them, on the validation path: no route, so
// no store is written), and the workerd process's CPU time around that
// request, divided by N, is the figure. Next to it, the same loop doing
// what the hand-written receiver does with a body (decode, JSON.parse, two
// checks). Requests go one at a time, rounds interleave the variants.
//
// Then the same for whole requests, still without HTTP: N requests built in
// the measuring Worker and handed to the shipped entry's `fetch`
// (crates/qase-edge/build/entry.mjs: header facts, body read, decision,
// Response) and to the receiver's (bench/peer/worker.js, SINKS=none): what
// each Worker's own code costs per delivery, without the runtime's HTTP
// work, which is the same for both and varies more than this between runs.
//
//   node bench/decision.mjs [N=20000] [ROUNDS=3] [DIR ...]
//
// DIR: a folder with an ingest.js and ingest_bg.wasm (scripts/build-ingest
// makes one); default crates/qase-edge/build/ingest. Several DIRs compare
// builds of the module side by side (how the `ingest` profile was chosen,
// BENCHMARKS.md). The bodies are the benchmark's own (`qase-hook send
// --print`): run.completed (small) and case.created with steps (large).
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { Log, LogLevel, Miniflare } from "miniflare";

const n = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 3);
const dirs = process.argv.length > 4 ? process.argv.slice(4) : ["crates/qase-edge/build/ingest"];
const hook = "target/release/qase-hook";
const bodies = Object.fromEntries(
  [
    ["small", "run.completed"],
    ["large", "case.created"],
  ].map(([kind, event]) => [kind, execFileSync(hook, ["send", event, "--print"], { encoding: "utf8" }).trim()]),
);

const script = `
import * as ingest from "./ingest.js";
import QaseEdge from "./entry.mjs";
import peer from "./peer.mjs";
const BODIES = ${JSON.stringify(bodies)};
const encoder = new TextEncoder();
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const count = Number(url.searchParams.get("n"));
    const kind = url.searchParams.get("kind");
    const receiver = url.searchParams.get("receiver") === "1";
    const body = encoder.encode(BODIES[kind]);
    let result = "";
    if (url.searchParams.get("handler") === "1") {
      const entry = new QaseEdge(ctx, env);
      const headers = { "content-type": "application/json", "x-qase-secret": "bench-secret", "content-length": String(body.length) };
      for (let i = 0; i < count; i++) {
        const delivery = new Request("http://bench/webhooks/qase", { method: "POST", headers, body });
        const response = receiver ? await peer.fetch(delivery, { ...env, SINKS: "none" }, ctx) : await entry.fetch(delivery);
        result = String(response.status);
        await response.arrayBuffer();
      }
      return new Response(result);
    }
    for (let i = 0; i < count; i++) {
      if (receiver) {
        const envelope = JSON.parse(new TextDecoder().decode(body));
        result = typeof envelope.event_name === "string" && typeof envelope.payload === "object" ? "202" : "422";
        continue;
      }
      const decision = ingest.qase_begin(env, "POST", "http://bench/webhooks/qase", String(body.length), "bench-secret", "application/json", 0);
      ingest.qase_ingest(env, decision, body);
      result = String(decision.status);
      decision.take_answer();
      decision.free();
    }
    return new Response(result);
  },
};`;

const mf = new Miniflare({
  workers: dirs.map((dir, i) => ({
    name: `v${i}`,
    modules: [
      { type: "ESModule", path: "main.mjs", contents: script },
      { type: "ESModule", path: "ingest.js", contents: fs.readFileSync(`${dir}/ingest.js`, "utf8") },
      { type: "CompiledWasm", path: "ingest_bg.wasm", contents: fs.readFileSync(`${dir}/ingest_bg.wasm`) },
      // The shipped entry, next to this build of the module (its import of
      // the shell is never taken on this path: a stub stands in).
      {
        type: "ESModule",
        path: "entry.mjs",
        contents: fs.readFileSync("crates/qase-edge/build/entry.mjs", "utf8").replaceAll("./ingest/ingest.js", "./ingest.js"),
      },
      { type: "ESModule", path: "index.js", contents: "export default class {}" },
      { type: "ESModule", path: "peer.mjs", contents: fs.readFileSync("bench/peer/worker.js", "utf8") },
    ],
    compatibilityDate: "2026-04-01",
    bindings: {
      QASE_WEBHOOK_SECRET: "bench-secret",
      QASE_ROUTES: "[]",
      QASE_DEDUPE_SECONDS: "0",
      QASE_LOG_DELIVERIES: "none",
    },
    kvNamespaces: ["QASE_EVENTS"],
  })),
  cf: false,
  log: new Log(LogLevel.WARN),
});
await mf.ready;
const workerd = fs
  .readdirSync("/proc")
  .filter((pid) => /^\d+$/.test(pid))
  .filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd") && fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1] === String(process.pid);
    } catch {
      return false;
    }
  })[0];
if (workerd === undefined) throw new Error("no workerd child process found");
const hz = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
const cpuSeconds = () => {
  const fields = fs.readFileSync(`/proc/${workerd}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / hz;
};

const rows = new Map();
async function measure(label, worker, query) {
  // Warm: past the baseline compiler, so that rounds compare optimised code.
  await (await worker.fetch(`http://bench/?n=${Math.min(n, 5000)}&${query}`)).text();
  const before = cpuSeconds();
  const status = await (await worker.fetch(`http://bench/?n=${n}&${query}`)).text();
  const micros = ((cpuSeconds() - before) * 1e6) / n;
  if (!rows.has(label)) rows.set(label, { status, values: [] });
  rows.get(label).values.push(micros);
}
for (let round = 0; round < rounds; round++) {
  for (const kind of ["small", "large"]) {
    const first = await mf.getWorker("v0");
    await measure(`receiver's parse and checks, ${kind}`, first, `kind=${kind}&receiver=1`);
    for (let i = 0; i < dirs.length; i++) {
      await measure(`${dirs[i]}, ${kind}`, await mf.getWorker(`v${i}`), `kind=${kind}`);
    }
    await measure(`whole request: the receiver's fetch, ${kind}`, first, `kind=${kind}&receiver=1&handler=1`);
    for (let i = 0; i < dirs.length; i++) {
      await measure(`whole request: qase-edge's entry with ${dirs[i]}, ${kind}`, await mf.getWorker(`v${i}`), `kind=${kind}&handler=1`);
    }
  }
}
await mf.dispose();

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
console.log(`| decision (${n} per request, ${rounds} rounds) | answer | CPU µs per decision, median | per round |`);
console.log("|---|---|---|---|");
for (const [label, { status, values }] of rows) {
  console.log(`| ${label} | ${status} | ${median(values).toFixed(1)} | ${values.map((v) => v.toFixed(1)).join(", ")} |`);
}
