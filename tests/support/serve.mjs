// Serves the built Worker through Miniflare (the real workerd runtime) for
// the end-to-end tests, with the bindings declared in wrangler.toml, plus a
// small control server through which the tests read what the Worker stored.
//
// Input: one JSON argument {config, vars, persist, omitBindings, faults,
// noConsumers, deliveryBatchWait, script, quiet, inspectorPort}. `faults` names bindings (KV,
// queue producer, D1) replaced by one whose every call throws: a store that
// is down, while the others work.
// Output: one line {"ready":true,"url":...,"control":...} on stdout once
// serving; then the Worker's logs. Exits when stdin closes, so a test
// process that dies for any reason leaves no workerd behind.
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

const options = JSON.parse(process.argv[2] ?? "{}");
const configPath = options.config ?? "wrangler.toml";

const { workerOptions, main } = unstable_getMiniflareWorkerOptions(configPath);
// A plain JavaScript Worker instead of the built bundle (the benchmark's
// references), with the same bindings.
const scriptPath = options.script ?? main;
const config = unstable_readConfig({ config: configPath });

// Only wrangler.toml's [vars] and the test's own: never the developer's .dev.vars.
const bindings = { ...config.vars, ...(options.vars ?? {}) };
for (const name of options.omitBindings ?? []) {
  delete workerOptions.kvNamespaces?.[name];
  delete workerOptions.queueProducers?.[name];
  delete workerOptions.d1Databases?.[name];
}
// A store that is down: every call rejects, as the runtime's bindings do when
// their service fails. Miniflare's wrapped bindings run this module's
// function in the Worker's own isolate, in place of the binding.
const FAULT_WORKER = "qase-edge-fault";
const wrappedBindings = {};
for (const name of options.faults ?? []) {
  const kind = workerOptions.kvNamespaces?.[name] !== undefined ? "kv"
    : workerOptions.queueProducers?.[name] !== undefined ? "queue"
    : workerOptions.d1Databases?.[name] !== undefined ? "d1"
    : undefined;
  if (kind === undefined) throw new Error(`no KV, queue or D1 binding ${name} to make fail`);
  delete workerOptions.kvNamespaces?.[name];
  delete workerOptions.queueProducers?.[name];
  delete workerOptions.d1Databases?.[name];
  wrappedBindings[name] = { scriptName: FAULT_WORKER, bindings: { name, kind } };
}
// The classes carry the runtime's names: workers-rs checks a binding's
// constructor name before it uses it.
const faultWorker = {
  name: FAULT_WORKER,
  modules: true,
  script: `
    const down = (name) => async () => { throw new Error(name + " is down (a fault injected by the test)"); };
    class KvNamespace { constructor(name) { for (const m of ["get", "getWithMetadata", "put", "delete", "list"]) this[m] = down(name); } }
    class WorkerQueue { constructor(name) { this.send = down(name); this.sendBatch = down(name); } }
    class D1PreparedStatement {
      constructor(name) { for (const m of ["run", "first", "all", "raw"]) this[m] = down(name); }
      bind() { return this; }
    }
    class D1Database {
      constructor(name) { this.name = name; this.batch = down(name); this.exec = down(name); }
      prepare() { return new D1PreparedStatement(this.name); }
    }
    const KINDS = { kv: KvNamespace, queue: WorkerQueue, d1: D1Database };
    export default function ({ name, kind }) { return new KINDS[kind](name); }`,
};

// The benchmark measures the ingest path alone: a consumer would work off
// the queue in the same workerd process and bill its CPU to later runs.
if (options.noConsumers) delete workerOptions.queueConsumers;
// A test that needs copies of a message queued together before the consumer
// takes the first (wrangler.toml takes each at once).
if (options.deliveryBatchWait != null) {
  workerOptions.queueConsumers["qase-deliveries"].maxBatchTimeout = options.deliveryBatchWait;
}

const mf = new Miniflare({
  workers: [
    {
      ...workerOptions,
      name: "qase-edge",
      bindings,
      wrappedBindings,
      modules: true,
  // The entry (build/entry.mjs) imports worker-build's index.js, an ES
  // module too (wrangler's bundler knows; Miniflare's defaults say CommonJS).
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
      scriptPath,
    },
    faultWorker,
  ],
  host: "127.0.0.1",
  port: 0,
  kvPersist: options.persist ? `${options.persist}/kv` : false,
  queuesPersist: options.persist ? `${options.persist}/queues` : false,
  d1Persist: options.persist ? `${options.persist}/d1` : false,
  // The pacer's Durable Object storage, kept across a restart like the rest.
  durableObjectsPersist: options.persist ? `${options.persist}/do` : false,
  cachePersist: false,
  cf: false,
  // workerd's V8 inspector, for bench/profile.mjs.
  inspectorPort: options.inspectorPort,
  log: new Log(options.quiet ? LogLevel.WARN : LogLevel.INFO),
});
const url = await mf.ready;
await applyMigrations();

// What `wrangler d1 migrations apply --local` does, without a wrangler
// process per test Worker: each file of migrations_dir in order, once (the
// d1_migrations table is wrangler's own, so a restarted Worker skips them).
async function applyMigrations() {
  for (const database of config.d1_databases ?? []) {
    if (options.faults?.includes(database.binding)) continue;
    if (options.omitBindings?.includes(database.binding)) continue;
    const db = await mf.getD1Database(database.binding);
    await db.prepare("CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)").run();
    const dir = path.resolve(path.dirname(configPath), database.migrations_dir ?? "migrations");
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
      if (await db.prepare("SELECT 1 FROM d1_migrations WHERE name = ?").bind(file).first()) continue;
      const statements = fs
        .readFileSync(path.join(dir, file), "utf8")
        .split(/;\s*$/m)
        .map((sql) => sql.replace(/^\s*--.*$/gm, "").trim())
        .filter((sql) => sql.length > 0);
      await db.batch([
        ...statements.map((sql) => db.prepare(sql)),
        db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(file),
      ]);
    }
  }
}

async function kv(name) {
  return mf.getKVNamespace(name);
}

const control = http.createServer(async (req, res) => {
  try {
    const { pathname, searchParams } = new URL(req.url, "http://control");
    if (pathname === "/kv/get") {
      const store = await kv(searchParams.get("binding") ?? "QASE_EVENTS");
      const { value, metadata } = await store.getWithMetadata(searchParams.get("key"), "arrayBuffer");
      if (value === null) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "x-metadata": JSON.stringify(metadata ?? null) });
      res.end(Buffer.from(value));
    } else if (pathname === "/kv/list") {
      const store = await kv(searchParams.get("binding") ?? "QASE_EVENTS");
      const keys = [];
      let cursor;
      do {
        const page = await store.list({ prefix: searchParams.get("prefix") ?? "", cursor });
        keys.push(...page.keys);
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(keys));
    } else if (pathname === "/d1/query" && req.method === "POST") {
      // {sql, params}: the rows, for tests that check what the Worker stored.
      const { sql, params } = JSON.parse(await text(req));
      const db = await mf.getD1Database(searchParams.get("binding") ?? "QASE_DB");
      const { results } = await db.prepare(sql).bind(...(params ?? [])).all();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(results));
    } else if (pathname === "/scheduled" && req.method === "POST") {
      // A cron trigger firing, as `wrangler dev --test-scheduled` does.
      const worker = await mf.getWorker();
      const result = await worker.scheduled({ cron: searchParams.get("cron") ?? "*/5 * * * *" });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
    } else {
      res.writeHead(404).end();
    }
  } catch (error) {
    res.writeHead(500).end(String(error?.stack ?? error));
  }
});
async function text(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

await new Promise((resolve) => control.listen(0, "127.0.0.1", resolve));

process.stdout.write(
  JSON.stringify({ ready: true, url: url.origin, control: `http://127.0.0.1:${control.address().port}` }) + "\n",
);

// "keep" on stdin: the storage outlives this process (a test restarts the
// Worker on it, as a store comes back after an outage).
let keep = false;
process.stdin.on("data", (data) => {
  if (String(data).includes("keep")) keep = true;
});
process.stdin.on("close", async () => {
  control.close();
  await mf.dispose();
  // The test process may never drop its handle (a shared static), so the
  // storage it made for this Worker is removed here.
  if (options.persist && !keep) fs.rmSync(options.persist, { recursive: true, force: true });
  process.exit(0);
});
