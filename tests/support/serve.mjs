// Serves the built Worker through Miniflare (the real workerd runtime) for
// the end-to-end tests, with the bindings declared in wrangler.toml, plus a
// small control server through which the tests read what the Worker stored.
//
// Input: one JSON argument {config, vars, persist, omitBindings, noConsumers,
// script, quiet, inspectorPort}.
// Output: one line {"ready":true,"url":...,"control":...} on stdout once
// serving; then the Worker's logs. Exits when stdin closes, so a test
// process that dies for any reason leaves no workerd behind.
import fs from "node:fs";
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
}
// The benchmark measures the ingest path alone: a consumer would work off
// the queue in the same workerd process and bill its CPU to later runs.
if (options.noConsumers) delete workerOptions.queueConsumers;

const mf = new Miniflare({
  ...workerOptions,
  bindings,
  modules: true,
  // The entry (build/entry.mjs) imports worker-build's index.js, an ES
  // module too (wrangler's bundler knows; Miniflare's defaults say CommonJS).
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  scriptPath,
  host: "127.0.0.1",
  port: 0,
  kvPersist: options.persist ? `${options.persist}/kv` : false,
  queuesPersist: options.persist ? `${options.persist}/queues` : false,
  cachePersist: false,
  cf: false,
  // workerd's V8 inspector, for bench/profile.mjs.
  inspectorPort: options.inspectorPort,
  log: new Log(options.quiet ? LogLevel.WARN : LogLevel.INFO),
});
const url = await mf.ready;

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
    } else {
      res.writeHead(404).end();
    }
  } catch (error) {
    res.writeHead(500).end(String(error?.stack ?? error));
  }
});
await new Promise((resolve) => control.listen(0, "127.0.0.1", resolve));

process.stdout.write(
  JSON.stringify({ ready: true, url: url.origin, control: `http://127.0.0.1:${control.address().port}` }) + "\n",
);

process.stdin.resume();
process.stdin.on("close", async () => {
  control.close();
  await mf.dispose();
  // The test process may never drop its handle (a shared static), so the
  // storage it made for this Worker is removed here.
  if (options.persist) fs.rmSync(options.persist, { recursive: true, force: true });
  process.exit(0);
});
