// CPU profile of one Worker under load: serves it with Miniflare
// (tests/support/serve.mjs) with workerd's inspector on, starts V8's
// sampling profiler on the Worker's isolate only, drives it with
// `qase-hook send --count` pinned to another core, and prints where the
// isolate's time went per request: self time and inclusive time by
// function. Also writes the raw profile (open it in Chrome DevTools'
// Performance panel or speedscope).
//
// Usage (see scripts/profile, which builds a bundle with function names):
//   node --experimental-websocket bench/profile.mjs '<spec>' <qase-hook send args...>
// spec: {"script", "vars", "count", "out", "inspectorPort"}
//
// Sampled time is wall time while the isolate runs, not CPU time, and an
// attached inspector makes some calls (console.log above all) slower: read
// the shares, not the absolute numbers; scripts/bench measures CPU.
import { spawn } from "node:child_process";
import fs from "node:fs";
import readline from "node:readline";

const spec = JSON.parse(process.argv[2] ?? "{}");
const loadArgs = process.argv.slice(3);
const count = spec.count ?? 3000;
const inspectorPort = spec.inspectorPort ?? 9339;

// The Worker is served by the same script as the end-to-end tests and the
// benchmark, with the inspector on; it stops when its stdin closes.
const server = spawn(
  "node",
  [
    "tests/support/serve.mjs",
    JSON.stringify({ script: spec.script, vars: spec.vars, quiet: true, inspectorPort }),
  ],
  { stdio: ["pipe", "pipe", "inherit"] },
);
const url = await new Promise((resolve, reject) => {
  const lines = readline.createInterface({ input: server.stdout });
  lines.on("line", (line) => {
    if (line.startsWith('{"ready":true')) resolve(JSON.parse(line).url);
  });
  server.on("exit", () => reject(new Error("tests/support/serve.mjs exited before serving")));
});

// The user Worker's isolate is `core:user:qase-edge`, the name serve.mjs
// gives it (Miniflare's routing Worker, `core:entry`, and the tests'
// fault-injection Worker run in other isolates and are left out).
const inspector = new WebSocket(`ws://127.0.0.1:${inspectorPort}/core:user:qase-edge`);
await new Promise((resolve, reject) => {
  inspector.onopen = resolve;
  inspector.onerror = reject;
});
let nextId = 1;
const pending = new Map();
inspector.onmessage = (message) => {
  const reply = JSON.parse(message.data);
  pending.get(reply.id)?.(reply);
  pending.delete(reply.id);
};
const call = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    inspector.send(JSON.stringify({ id, method, params }));
  });

const load = (n) =>
  new Promise((resolve) => {
    const args = ["send", ...loadArgs, "--url", `${url}/webhooks/qase`, "--count", String(n)];
    const child = spawn("taskset", ["-c", "1", "target/release/qase-hook", ...args], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("close", () => resolve(out.trim()));
  });

await load(Math.ceil(count / 5)); // warm-up: compile and tier up before sampling
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 50 });
await call("Profiler.start");
console.log(await load(count));
const { result } = await call("Profiler.stop");
const profile = result.profile;
fs.writeFileSync(spec.out ?? "target/profile.cpuprofile", JSON.stringify(profile));

const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const name = (node) => {
  const file = node.callFrame.url.split("/").pop();
  return `${node.callFrame.functionName || "(anonymous)"}${file ? ` [${file}]` : ""}`;
};
const self = new Map();
const inclusive = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const micros = profile.timeDeltas[i] ?? 0;
  const leaf = nodes.get(profile.samples[i]);
  self.set(name(leaf), (self.get(name(leaf)) ?? 0) + micros);
  const seen = new Set();
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const key = name(nodes.get(id));
    if (!seen.has(key)) {
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
  }
}
const print = (title, table, rows) => {
  console.log(`\n${title} (µs per request)`);
  for (const [key, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${(micros / count).toFixed(1).padStart(8)}  ${key}`);
  }
};
print("self time", self, spec.rows ?? 30);
print("inclusive time", inclusive, spec.rows ?? 30);

inspector.close();
server.stdin.end();
await new Promise((resolve) => server.on("exit", resolve));
