// The console in a real browser: the system's headless Chromium, driven by
// puppeteer-core (no browser download). Run by the end-to-end test
// `console::the_console_answers_did_the_run_reach_ci` (tests/tests/e2e/console.rs),
// which serves the Worker, sends the events and checks the destinations;
// this script does what an operator does, asserts what the page shows, and
// saves a screenshot of each page.
//
// Input: one JSON argument {
//   url, token, screenshots,            the Worker, its operator token, where PNGs go
//   scenario: "operator" | "api_off",
//   run_id, hostile_title, dead_destination, delivered_destination
// }
// Exit 0 when every step passed; otherwise the failing step on stderr, exit 1.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const input = JSON.parse(process.argv[2]);
const STEP_TIMEOUT = 15_000;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_BIN || "chromium",
  headless: true,
  // Root in a container: Chromium's sandbox needs user namespaces.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const problems = [];
let step = "start";
let page;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.setDefaultTimeout(STEP_TIMEOUT);
  // Any dialog is a script the page should not have run (alert(1)).
  page.on("dialog", async (dialog) => {
    problems.push(`a dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  // The page must work under its own Content-Security-Policy, and never
  // throw.
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  fs.mkdirSync(input.screenshots, { recursive: true });

  if (input.scenario === "api_off") await apiOff(page);
  else if (input.scenario === "access") await access(page);
  else await operator(page);
  assert.deepEqual(problems, [], "the page ran into problems");
  console.log("console: every step passed");
} catch (error) {
  console.error(`console step "${step}" failed: ${error.stack ?? error}`);
  await page?.screenshot({ path: path.join(input.screenshots, "failure.png"), fullPage: true }).catch(() => {});
  console.error(`screenshot of the failure: ${path.join(input.screenshots, "failure.png")}`);
  if (problems.length) console.error(`problems seen: ${problems.join("; ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

function begin(name) {
  step = name;
  console.log(`step: ${name}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(input.screenshots, `${name}.png`), fullPage: true });
}

/// The text of the element matching `selector` once it satisfies `want`:
/// {includes}, {equals}, {startsWith} or {nonEmpty: true}. (A spec, not a
/// function: the page's CSP forbids evaluating code from strings.)
async function waitText(page, selector, want, what) {
  try {
    await page.waitForFunction(
      (sel, want) => {
        const text = document.querySelector(sel)?.textContent;
        if (text === undefined) return false;
        if (want.includes !== undefined) return want.includes.every((part) => text.includes(part));
        if (want.equals !== undefined) return text === want.equals;
        if (want.startsWith !== undefined) return text.startsWith(want.startsWith);
        return text.trim().length > 0;
      },
      { timeout: STEP_TIMEOUT },
      selector,
      want,
    );
  } catch {
    const text = await page.$eval(selector, (e) => e.textContent).catch(() => "(no such element)");
    throw new Error(`${what}: ${selector} shows ${JSON.stringify(text.slice(0, 400))}`);
  }
  return page.$eval(selector, (e) => e.textContent);
}

/// The number of the view on the page (`data-view` on <main>).
async function currentView(page) {
  return page.$eval("main", (main) => Number(main.dataset.view ?? 0));
}

/// Waits for a view after `before` to have its first data on the page.
async function settled(page, before) {
  await page.waitForFunction(
    (n) => {
      const main = document.querySelector("main");
      return Number(main.dataset.view ?? 0) > n && main.getAttribute("aria-busy") === "false";
    },
    { timeout: STEP_TIMEOUT },
    before,
  );
}

/// Goes to `#…` in the console (the router's navigation) and waits for it.
async function visit(page, hash) {
  const before = await currentView(page);
  await page.evaluate((target) => {
    location.hash = target;
  }, hash);
  await settled(page, before);
}

/// Clicks something that changes the view (a link, a form's submit) and
/// waits for the new view.
async function through(page, act) {
  const before = await currentView(page);
  await act();
  await settled(page, before);
}

async function apiOff(page) {
  begin("the console explains that the API is off");
  const response = await page.goto(`${input.url}/console/`);
  assert.equal(response.status(), 200);
  await waitText(page, "main h1", { includes: ["operator API is off"] }, "API-off screen");
  assert.equal(await page.$("#token"), null, "no sign-in form without an API");
  await shot(page, "api-off");
}

async function operator(page) {
  begin("/console redirects and the page carries a strict CSP");
  const response = await page.goto(`${input.url}/console`);
  assert.equal(response.url(), `${input.url}/console/`);
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);

  begin("sign in: a wrong token is refused with a clear message");
  await page.waitForSelector("#token");
  await shot(page, "sign-in");
  // The keyboard alone: the field has focus, Enter submits.
  assert.equal(await page.evaluate(() => document.activeElement?.id), "token", "the token field has focus");
  await page.keyboard.type("not-the-token-at-all");
  await page.keyboard.press("Enter");
  await waitText(page, "#sign-in-error", { includes: ["refused"] }, "wrong-token message");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");

  begin("sign in with the operator token");
  await page.click("#token", { clickCount: 3 });
  await page.keyboard.type(input.token);
  await through(page, () => page.keyboard.press("Enter"));
  await page.waitForSelector("table.list tbody tr[data-id]");
  assert.ok(!page.url().includes(input.token), "the token is never in the URL");

  begin("the events sent by qase-hook are listed, newest first");
  const names = await page.$$eval("table.list tbody tr[data-id] td:nth-child(2) a", (links) =>
    links.map((a) => a.textContent),
  );
  assert.ok(names.includes("run.completed"), `events listed: ${names}`);
  assert.ok(names.includes("case.created"), `events listed: ${names}`);
  await page.waitForSelector("figure.hourly svg rect");
  await waitText(page, ".legend", { includes: ["run", "case"] }, "the chart's legend names the entities");
  await shot(page, "events");

  begin("filter by event name");
  await page.$eval('input[name="event"]', (input) => {
    input.value = "";
  });
  await page.type('input[name="event"]', "run.*");
  await through(page, () => page.keyboard.press("Enter"));
  assert.ok(page.url().includes("event=run.*"), page.url());
  const filtered = await page.$$eval("table.list tbody tr[data-id] td:nth-child(2) a", (links) =>
    links.map((a) => a.textContent),
  );
  assert.ok(filtered.length > 0 && filtered.every((name) => name.startsWith("run.")), `filtered: ${filtered}`);

  begin("filter by run id");
  await visit(page, `#/events?run=${input.run_id}`);
  const byRun = await page.$$eval("table.list tbody tr[data-id] td:nth-child(2) a", (links) =>
    links.map((a) => a.textContent),
  );
  assert.deepEqual(byRun, ["run.completed"]);

  begin("open the run.completed event: in words, its deliveries, its body");
  await through(page, () => page.click("table.list tbody tr[data-id] td:nth-child(2) a"));
  await waitText(page, "#event-title", { equals: "Test run completed" }, "the event's headline");
  const delivered = `li.delivery[data-destination="${input.delivered_destination}"]`;
  await waitText(page, delivered, { includes: ["delivered"] }, "the delivery to CI");
  await waitText(page, "pre.json", { includes: ['"event_name": "run.completed"'] }, "the pretty-printed body");
  await shot(page, "event");

  begin("replay it and see the new attempt");
  // Counted, not compared as text: the text changes anyway as "… ago" ticks.
  const attempts = () => page.$$eval(`${delivered} ol.timeline li`, (items) => items.length);
  const before = await attempts();
  await page.click("#replay");
  await waitText(page, "#replay-status", { includes: ["New attempt recorded"] }, "the replay's new attempt");
  const after = await attempts();
  assert.equal(
    after,
    before + 1,
    `the delivery's timeline shows the new attempt (${before} entries before, ${after} after)`,
  );
  await shot(page, "event-replayed");

  begin("the run on the Runs page: its status and counts, then the run itself");
  await visit(page, "#/runs?project=WEB");
  const runRow = `tr[data-run="${input.run_id}"]`;
  await waitText(page, runRow, { includes: ["completed", "passed"] }, "the completed run");
  await shot(page, "runs");
  await through(page, () => page.click(`${runRow} a`));
  await waitText(page, "#run-title", { startsWith: `Run #${input.run_id}` }, "the run's page");
  await shot(page, "run");

  begin("the hostile title shows up as text, and no script runs");
  await visit(page, "#/events?event=case.created");
  await through(page, () => page.click("table.list tbody tr[data-id] td:nth-child(2) a"));
  const title = await waitText(page, "p.title", { nonEmpty: true }, "the case's title");
  assert.equal(title, input.hostile_title);
  assert.equal(
    await page.$$eval("main img, main script, main iframe", (found) => found.length),
    0,
    "the title made no element",
  );
  await shot(page, "hostile");

  begin("the dead letter is listed with its reason and last answer");
  await visit(page, "#/dead-letters");
  const deadRow = `tbody tr[data-id] td:nth-child(3)`;
  await waitText(page, deadRow, { nonEmpty: true }, "a dead letter");
  const row = await page.$eval("tbody tr[data-id]", (tr) => tr.textContent);
  assert.ok(row.includes(input.dead_destination), row);
  assert.ok(row.includes("HTTP 400"), row);
  await shot(page, "dead-letters");

  begin("replay all that match (to their destination): the server's dry run first, then its bulk replay");
  const replays = bulkReplays(page);
  await visit(page, `#/dead-letters?destination=${input.dead_destination}`);
  await page.click("#replay-all");
  await waitText(
    page,
    "#replay-all-count",
    { includes: ["1 event with a dead letter", `1 message to ${input.dead_destination} only`] },
    "the dry run's count before replaying",
  );
  await page.click("#replay-all-confirm");
  await waitText(page, "#replay-all-summary", { includes: ["Done: 1 event replayed", "in 1 call"] }, "the summary");
  const filter = { state: "dead", destination: input.dead_destination };
  assert.deepEqual(
    replays.map(({ since, ...body }) => (assert.equal(typeof since, "number"), body)),
    [{ ...filter, dry_run: true }, filter],
    "a dry run, then one bulk replay with the same filter",
  );
  await shot(page, "dead-letters-replayed");

  begin("destinations: state, success rate, last error; configuration health");
  await visit(page, "#/destinations");
  const ci = `tr[data-destination="${input.delivered_destination}"]`;
  const refusing = `tr[data-destination="${input.dead_destination}"]`;
  await waitText(page, ci, { includes: ["active", "100.0 %"] }, "the CI destination, healthy");
  await waitText(page, refusing, { includes: ["HTTP 400"] }, "the refusing destination's last error");
  await waitText(page, "#health-title", { includes: ["Configuration health"] }, "the health section");
  await shot(page, "destinations");

  begin("pause a destination from the console, then resume it");
  await page.click(`${refusing} button`);
  await waitText(page, refusing, { includes: ["paused", "by an operator"] }, "the paused destination");
  await page.click(`${refusing} button`);
  await waitText(page, refusing, { includes: ["active", "Pause"] }, "the resumed destination");
  const resumed = await page.$eval(refusing, (tr) => tr.textContent);
  assert.ok(!resumed.includes("paused"), `the resumed destination still reads as paused: ${resumed}`);

  begin("a phone-sized screen, in dark mode");
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  // style.css: --bg is #f7f8fa in light mode and #111418 in dark mode.
  assert.equal(await background(), "rgb(247, 248, 250)", "the light background before");
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  await visit(page, "#/events");
  assert.equal(await background(), "rgb(17, 20, 24)", "the page follows the system's dark mode");
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow} px on a phone`);
  await shot(page, "events-phone-dark");

  begin("sign out forgets the token");
  assert.equal(await page.evaluate(() => sessionStorage.length), 1, "the token is kept while signed in");
  await page.click("#sign-out");
  await page.waitForSelector("#token");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "the token is forgotten");
}

/// The bodies of the `POST /api/replay` calls the page sends from now on,
/// in order.
function bulkReplays(page) {
  const bodies = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/api/replay") {
      bodies.push(JSON.parse(request.postData()));
    }
  });
  return bodies;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/// Watches the page's requests (interception on): counts the Events list
/// calls (`GET /api/events`) and how many are in flight at once, can make
/// them slow (`slowList` ms before each is sent), records the bulk replays'
/// bodies, and can make the server's pages of a bulk replay small
/// (`replayLimit`, added to each call's body: the only way to have several
/// cursor calls with a handful of dead letters) and its calls slow
/// (`slowReplay` ms).
async function watchRequests(page) {
  const net = {
    lists: 0,
    inFlight: 0,
    maxInFlight: 0,
    slowList: 0,
    replays: [],
    replayLimit: null,
    slowReplay: 0,
    replaysDone: 0,
    replaysFailed: 0,
  };
  const isList = (request) => request.method() === "GET" && new URL(request.url()).pathname === "/api/events";
  const isReplay = (request) => request.method() === "POST" && new URL(request.url()).pathname === "/api/replay";
  const later = (ms, go) => (ms ? setTimeout(() => go().catch(() => {}), ms) : go().catch(() => {}));
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    if (isList(request)) {
      net.lists += 1;
      net.inFlight += 1;
      net.maxInFlight = Math.max(net.maxInFlight, net.inFlight);
      return later(net.slowList, () => request.continue());
    }
    if (isReplay(request)) {
      const body = JSON.parse(request.postData());
      net.replays.push(body);
      if (body.dry_run || net.replayLimit === null) return later(0, () => request.continue());
      const postData = JSON.stringify({ ...body, limit: net.replayLimit });
      return later(net.slowReplay, () => request.continue({ postData }));
    }
    later(0, () => request.continue());
  });
  const settle = (failed) => (request) => {
    if (isList(request)) net.inFlight -= 1;
    if (isReplay(request) && !JSON.parse(request.postData()).dry_run) {
      if (failed) net.replaysFailed += 1;
      else net.replaysDone += 1;
    }
  };
  page.on("requestfinished", settle(false));
  page.on("requestfailed", settle(true));
  return net;
}

/// Whether `selector` is on the page and rendered (as laid out: a
/// stylesheet's `display` can show an element that has `hidden`).
async function shown(page, selector) {
  return page.$eval(selector, (e) => e.getClientRects().length > 0).catch(() => false);
}

/// Counts the page's pending timers of a second or more (the polls'; a
/// shorter one is some library's): installed before the console's own
/// script runs, read with `window.qaseTimers()`.
function countTimers() {
  const timeouts = new Set();
  const intervals = new Set();
  const { setTimeout: setT, clearTimeout: clearT, setInterval: setI, clearInterval: clearI } = window;
  window.setTimeout = (task, ms, ...rest) => {
    const id = setT(() => {
      timeouts.delete(id);
      task(...rest);
    }, ms);
    if (ms >= 1000) timeouts.add(id);
    return id;
  };
  window.clearTimeout = (id) => {
    timeouts.delete(id);
    clearT(id);
  };
  window.setInterval = (task, ms, ...rest) => {
    const id = setI(task, ms, ...rest);
    if (ms >= 1000) intervals.add(id);
    return id;
  };
  window.clearInterval = (id) => {
    intervals.delete(id);
    clearI(id);
  };
  window.qaseTimers = () => ({ timeouts: timeouts.size, intervals: intervals.size });
}

async function access(page) {
  const net = await watchRequests(page);
  await page.evaluateOnNewDocument(countTimers);

  begin("behind Access, a viewer is signed in by the assertion alone: who and which role, no token asked");
  await page.setExtraHTTPHeaders({ "Cf-Access-Jwt-Assertion": input.viewer });
  await page.goto(`${input.url}/console/#/events`);
  await settled(page, 0);
  await waitText(page, "#whoami-name", { equals: "vic@example.com" }, "the viewer's name");
  await waitText(page, "#whoami", { includes: ["viewer"] }, "the viewer's role");
  assert.equal(await page.$("#token"), null, "no token is asked for");
  assert.equal(await shown(page, "#sign-out"), false, "no token sign-out");
  assert.equal(await shown(page, "#access-sign-out"), true, "Access's sign-out");
  assert.equal(await shown(page, 'nav a[data-page="audit"]'), false, "no Audit page for a viewer");
  assert.equal(await shown(page, 'nav a[data-page="destinations"]'), true, "the Destinations page");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "no token kept");
  await page.waitForSelector("table.list tbody tr[data-id]");
  await shot(page, "access-viewer-events");

  begin("the viewer sees an event's deliveries, but no replay button");
  await through(page, () => page.click("table.list tbody tr[data-id] td:nth-child(2) a"));
  await waitText(page, `li.delivery[data-destination="${input.dead_destination}"]`, { includes: ["dead"] }, "dead");
  assert.equal(await page.$("#replay"), null, "no replay button for a viewer");
  assert.equal(await page.$$eval("li.delivery button", (found) => found.length), 0, "no dead-letter replay button");

  begin("the viewer sees the dead letters, but neither Replay all nor a row's Replay");
  await visit(page, "#/dead-letters");
  assert.equal(await page.$$eval("tbody tr[data-id]", (rows) => rows.length), input.dead);
  assert.equal(await page.$("#replay-all"), null, "no Replay all for a viewer");
  assert.equal(await page.$$eval("tbody button", (found) => found.length), 0, "no Replay in a row for a viewer");

  begin("the viewer sees the destinations, but no pause or resume");
  await visit(page, "#/destinations");
  const row = `tr[data-destination="${input.dead_destination}"]`;
  await waitText(page, row, { includes: ["HTTP 400"] }, "the destination's last error");
  assert.equal(await page.$$eval("main table button", (found) => found.length), 0, "no pause or resume button");
  await shot(page, "access-viewer-destinations");

  begin("the Events page's refresh waits for a slow answer: never two at once");
  // Each list call takes 7 s, more than the 5 s refresh: a timer that did
  // not wait for the answer would have two in flight by 5 s.
  net.slowList = 7_000;
  net.maxInFlight = net.inFlight;
  const listsBefore = net.lists;
  const before = await currentView(page);
  await page.evaluate(() => {
    location.hash = "#/events";
  });
  await settled(page, before);
  await sleep(6_500);
  assert.ok(net.lists - listsBefore >= 2, `the list was refreshed (${net.lists - listsBefore} calls)`);
  assert.equal(net.maxInFlight, 1, "never two list calls in flight at once");

  // The chart's poll and the header's health badge wait (the list's poll
  // is in flight now, its next run not scheduled until it answers).
  const whileShown = await page.evaluate(() => window.qaseTimers());
  assert.deepEqual(whileShown, { timeouts: 2, intervals: 0 }, "timers while the page is shown");

  begin("leaving the Events page stops its refresh and its timers");
  net.slowList = 0;
  await visit(page, "#/runs?project=WEB");
  const listsLeft = net.lists;
  await sleep(6_500);
  assert.equal(net.lists - listsLeft, 0, "no list call after leaving the page");
  // Only the header's health badge is left (the Runs page polls nothing).
  assert.deepEqual(await page.evaluate(() => window.qaseTimers()), { timeouts: 1, intervals: 0 }, "timers left");

  begin("an operator, through Access: who and which role, and Replay all through the bulk route");
  await page.setExtraHTTPHeaders({ "Cf-Access-Jwt-Assertion": input.operator });
  // A new load (not a same-document navigation): who is signed in is
  // learnt once per load.
  await page.goto("about:blank");
  await page.goto(`${input.url}/console/#/dead-letters`);
  await settled(page, 0);
  await waitText(page, "#whoami-name", { equals: "olga@example.com" }, "the operator's name");
  await waitText(page, "#whoami", { includes: ["operator"] }, "the operator's role");
  assert.equal(await shown(page, 'nav a[data-page="audit"]'), true, "the Audit page for an operator");
  await page.waitForSelector("tbody tr[data-id] button");
  net.replays.length = 0;
  // Without a destination the bulk replay would also re-send each event to
  // the destinations that have it: the page asks for one and sends nothing.
  await page.click("#replay-all");
  await waitText(page, "#replay-all-needs-destination", { includes: ["Choose a destination first"] }, "the ask");
  await sleep(500);
  assert.deepEqual(net.replays, [], "no bulk call without a destination");
  await visit(page, `#/dead-letters?destination=${input.dead_destination}`);
  await page.waitForSelector("tbody tr[data-id] button");
  net.replayLimit = 2;
  await page.click("#replay-all");
  await waitText(
    page,
    "#replay-all-count",
    { includes: [`${input.dead} events with a dead letter`, `${input.dead} messages`] },
    "the dry run's count",
  );
  assert.deepEqual(
    net.replays.map((body) => body.dry_run),
    [true],
    "only the dry run before the confirmation",
  );
  await page.click("#replay-all-confirm");
  await waitText(
    page,
    "#replay-all-summary",
    { includes: [`Done: ${input.dead} events replayed`, `${input.dead} messages queued`, "in 2 calls"] },
    "the summary",
  );
  await shot(page, "access-operator-replayed");
  const [dry, first, second, ...rest] = net.replays;
  assert.deepEqual(rest, [], "one dry run and two calls");
  assert.equal(dry.state, "dead", "the filter selects the dead letters");
  const { dry_run, ...filter } = dry;
  assert.equal(dry_run, true);
  assert.deepEqual(first, filter, "the first call has the dry run's filter");
  assert.equal(typeof second.cursor, "string", "the second call follows the first's cursor");
  assert.deepEqual({ ...second, cursor: undefined }, { ...filter, cursor: undefined }, "and the same filter");

  begin("leaving the page during Replay all lets the call in flight finish and starts no other");
  net.replays.length = 0;
  net.replaysDone = 0;
  net.replaysFailed = 0;
  net.replayLimit = 1;
  net.slowReplay = 2_000;
  await page.click("#replay-all");
  await waitText(page, "#replay-all-count", { includes: [`${input.dead} events`] }, "the dry run's count again");
  await page.click("#replay-all-confirm");
  await page.waitForSelector("#replay-all-progress");
  await visit(page, "#/runs?project=WEB");
  await sleep(4_000);
  assert.equal(net.replays.length, 2, "the dry run and one call, none after leaving");
  assert.equal(net.replaysDone, 1, "the call in flight finished");
  assert.equal(net.replaysFailed, 0, "and was not cut off");
  net.slowReplay = 0;

  begin("the operator's bulk replays are in the Audit page");
  await visit(page, "#/audit");
  await waitText(page, "tbody", { includes: ["bulk replay", "olga@example.com"] }, "the audit log");
  await shot(page, "access-operator-audit");
}
