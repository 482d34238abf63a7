// The console's entry: who is signed in, the header, and a router from
// the URL's fragment (`#/events?project=WEB`, `#/events/evt_…`, `#/runs`,
// `#/runs/WEB/42`, `#/dead-letters`, `#/destinations`, `#/audit`) to a
// page. Filters live in the fragment so a view can be bookmarked or shared;
// the token never does.
//
// Who is signed in (and so whether the API is on at all) is learnt once per
// page load, from `GET /api/me` (api.session), not on every navigation.
// Each view gets an AbortController: leaving it aborts its fetches and
// stops its polls (poll.js), so nothing of a page runs after it.

import * as api from "./api.js";
import { badge, h, notice, replace } from "./dom.js";
import { tone } from "./format.js";
import { poll } from "./poll.js";
import { can, describe, viaAccess } from "./roles.js";
import * as events from "./pages/events.js";
import * as event from "./pages/event.js";
import * as deadLetters from "./pages/dead-letters.js";
import * as destinations from "./pages/destinations.js";
import * as runs from "./pages/runs.js";
import * as audit from "./pages/audit.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");
const accessSignOut = document.getElementById("access-sign-out");
const whoami = document.getElementById("whoami");
const healthBadge = document.getElementById("health");

/// The page shown now: aborting its controller stops its fetches and timers.
let current = new AbortController();

/// What `GET /api/me` said at load (api.session), or after signing in.
let learnt = null;

const HEALTH_EVERY_MS = 30_000;

/// The fragment as a page name, an id and the filters.
export function parseRoute(hash) {
  const [path, search = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const params = Object.fromEntries(new URLSearchParams(search));
  if (parts[0] === "events" && parts[1]) return { page: "event", id: decodeURIComponent(parts[1]), params };
  if (parts[0] === "dead-letters") return { page: "dead-letters", params };
  if (parts[0] === "destinations") return { page: "destinations", params };
  if (parts[0] === "audit") return { page: "audit", params };
  if (parts[0] === "runs" && parts[1] && parts[2]) {
    return { page: "runs", project: decodeURIComponent(parts[1]), id: decodeURIComponent(parts[2]), params };
  }
  if (parts[0] === "runs") return { page: "runs", params };
  return { page: "events", params };
}

const PAGES = { events, event, "dead-letters": deadLetters, destinations, runs, audit };

/// The pages a role may not read, by the action of roles.js they need.
const PAGE_NEEDS = { destinations: "destinations", audit: "audit" };

/// Each view is numbered (`data-view` on <main>) and <main> is
/// `aria-busy` until the view's first data is on the page: assistive
/// technology waits for it, and so do the browser tests.
let views = 0;

async function show() {
  current.abort();
  current = new AbortController();
  const signal = current.signal;
  const view = ++views;
  main.dataset.view = String(view);
  main.setAttribute("aria-busy", "true");
  let state;
  try {
    learnt ??= api.session();
    state = await learnt;
  } catch (error) {
    learnt = null;
    return screen(notice("bad", "The Worker did not answer as expected.", error.message));
  }
  if (view !== views) return;
  if (state.kind === "api_off") return apiOff();
  if (state.kind === "access_denied") return accessDenied(state.message);
  if (state.kind === "no_role") return signIn(`${state.message}. Sign in with a token instead.`);
  if (state.kind === "needs_token") {
    return signIn(state.refused ? "The Worker refused the token: it was changed or mistyped. Enter it again." : "");
  }
  render(state.me, view, signal);
}

function render(me, view, signal) {
  signedIn(me);
  const route = parseRoute(location.hash);
  for (const link of nav.querySelectorAll("a")) {
    const active = link.dataset.page === route.page || (route.page === "event" && link.dataset.page === "events");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const context = {
    /// Who is signed in: `{name, credential, role, projects}`.
    me,
    /// Whether they may take an action of roles.js (`replay`, `pause`...).
    can: (action) => can(me, action),
    /// Aborts when the user leaves the view.
    signal,
    /// Calls the API, aborted when the view is left (unless `keep: true`:
    /// a call that changes something is let finish, so that leaving
    /// never cuts one off half way); a refused credential signs out.
    call: async (path, { keep = false, ...options } = {}) => {
      try {
        return await api.call(path, { ...options, signal: keep ? undefined : signal });
      } catch (error) {
        if (views === view) refused(error);
        throw error;
      }
    },
    /// Polls `task` every `ms` for as long as the view is shown (poll.js),
    /// or until `options.signal` aborts, if that is sooner.
    poll: (task, ms, options = {}) =>
      poll(task, ms, { ...options, signal: options.signal ? AbortSignal.any([signal, options.signal]) : signal }),
    /// Goes to another view (changing the fragment re-renders).
    go: (hash) => {
      if (location.hash === hash) show();
      else location.hash = hash;
    },
    /// The page's first data is shown.
    ready: () => {
      if (views === view) main.setAttribute("aria-busy", "false");
    },
  };
  main.replaceChildren();
  const needs = PAGE_NEEDS[route.page];
  if (needs && !can(me, needs)) {
    return screen(
      notice("warning", "Your role cannot see this page.", `You are signed in as ${me.name} (${describe(me).role}).`),
    );
  }
  try {
    PAGES[route.page].render(main, route, context);
  } catch (error) {
    screen(notice("bad", "This page failed to load.", error.message));
  }
}

/// A call refused for its credential: a token is forgotten and asked for
/// again; an Access session that ended is signed in again through Access.
function refused(error) {
  if (error instanceof api.TokenRefused) {
    api.forgetToken();
    learnt = Promise.resolve({ kind: "needs_token", refused: true });
    current.abort();
    signIn("The Worker refused the token: it was changed or mistyped. Enter it again.");
  } else if (error instanceof api.AccessRefused) {
    learnt = null;
    current.abort();
    accessDenied(error.message);
  }
}

/// The header of a signed-in caller: their name and role, the pages their
/// role may read, and how to sign out.
function signedIn(me) {
  nav.hidden = false;
  for (const link of nav.querySelectorAll("a[data-needs]")) link.hidden = !can(me, link.dataset.needs);
  const { name, role } = describe(me);
  replace(whoami, h("span", { class: "name", id: "whoami-name" }, name), " ", badge(role, "neutral"));
  whoami.dataset.role = me.role;
  whoami.title = viaAccess(me) ? "Signed in through Cloudflare Access" : "Signed in with a token";
  whoami.hidden = false;
  signOut.hidden = viaAccess(me);
  accessSignOut.hidden = !viaAccess(me);
}

function signedOut() {
  nav.hidden = true;
  whoami.hidden = true;
  signOut.hidden = true;
  accessSignOut.hidden = true;
}

function screen(...children) {
  replace(main, h("section", { class: "screen" }, children));
  main.setAttribute("aria-busy", "false");
}

function apiOff() {
  signedOut();
  screen(
    h("h1", {}, "The operator API is off"),
    h(
      "p",
      {},
      "This Worker has no operator token, so its API (which the console reads) does not exist. Set one, then reload this page:",
    ),
    h("pre", {}, "npx wrangler secret put QASE_ADMIN_TOKEN"),
    h("p", {}, 'Locally, put QASE_ADMIN_TOKEN="…" in .dev.vars (scripts/run adds one) and restart.'),
  );
}

/// Cloudflare Access guards the API, and refused this browser's assertion
/// (it expired): a reload goes through Access's sign-in again.
function accessDenied(message) {
  signedOut();
  const reload = h("button", { type: "button", id: "access-again" }, "Sign in again");
  reload.addEventListener("click", () => location.reload());
  screen(
    h("h1", {}, "Sign in through Cloudflare Access"),
    h("p", {}, "Cloudflare Access guards this console, and it did not vouch for this request: ", message, "."),
    reload,
  );
}

function signIn(problem) {
  signedOut();
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help",
  });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" }, problem ?? "");
  const form = h(
    "form",
    { class: "sign-in", onsubmit: (e) => submit(e) },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Operator token"),
    input,
    h(
      "p",
      { id: "token-help", class: "help" },
      "The Worker's QASE_ADMIN_TOKEN or a token of QASE_API_TOKENS (locally: in .dev.vars). It is kept for this browser session only, and sent to this Worker only.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  async function submit(e) {
    e.preventDefault();
    api.setToken(input.value.trim());
    let answer;
    try {
      answer = await api.whoAmI();
    } catch (failure) {
      answer = { kind: "failed", message: failure.message };
    }
    if (answer.kind !== "signed_in") {
      api.forgetToken();
      replace(
        error,
        answer.kind === "needs_token"
          ? "The Worker refused this token. Check it and try again."
          : `The API answered: ${answer.message ?? answer.kind}`,
      );
      input.select();
      return;
    }
    learnt = Promise.resolve(answer);
    input.value = "";
    if (!location.hash || location.hash === "#/") location.hash = "#/events";
    show();
  }
  replace(main, h("section", { class: "screen" }, form));
  main.setAttribute("aria-busy", "false");
  input.focus();
}

async function refreshHealth() {
  try {
    const health = await api.health();
    replace(
      healthBadge,
      h(
        "a",
        { href: "#/destinations", class: `badge ${tone(health.status)}`, title: "Configuration health" },
        health.status === "ok" ? "healthy" : health.status.replaceAll("_", " "),
      ),
    );
  } catch {
    replace(healthBadge, h("span", { class: "badge bad" }, "unreachable"));
  }
}

signOut.addEventListener("click", () => {
  api.forgetToken();
  learnt = Promise.resolve({ kind: "needs_token", refused: false });
  current.abort();
  signIn();
});
window.addEventListener("hashchange", show);
// The header's health badge, for as long as the page is open.
refreshHealth();
poll(refreshHealth, HEALTH_EVERY_MS, { signal: new AbortController().signal, paused: () => document.hidden });
show();
