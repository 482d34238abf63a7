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

  begin("replay all that match: the count first, then the replay");
  await page.click("#replay-all");
  await waitText(page, "#replay-all-count", { startsWith: "1 dead letter" }, "the count before replaying");
  await page.click("#replay-all-confirm");
  await waitText(page, ".bulk", { includes: ["Replayed 1 dead letter"] }, "the replay's result");

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
