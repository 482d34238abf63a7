// The console's entry: the sign-in screen, the header, and a router from
// the URL's fragment (`#/events?project=WEB`, `#/events/evt_…`, `#/runs`,
// `#/runs/WEB/42`, `#/dead-letters`, `#/destinations`, `#/audit`) to a page. Filters live in the
// fragment so a view can be bookmarked or shared; the token never does.

import * as api from "./api.js";
import { h, notice, replace } from "./dom.js";
import { tone } from "./format.js";
import * as events from "./pages/events.js";
import * as event from "./pages/event.js";
import * as deadLetters from "./pages/dead-letters.js";
import * as destinations from "./pages/destinations.js";
import * as runs from "./pages/runs.js";
import * as audit from "./pages/audit.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");
const healthBadge = document.getElementById("health");

/// The page shown now: its cleanup (timers) runs before the next one.
let current = { cleanup: () => {} };

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

/// Each view is numbered (`data-view` on <main>) and <main> is
/// `aria-busy` until the view's first data is on the page: assistive
/// technology waits for it, and so do the browser tests.
let views = 0;

async function show() {
  current.cleanup();
  current = { cleanup: () => {} };
  const view = ++views;
  main.dataset.view = String(view);
  main.setAttribute("aria-busy", "true");
  let enabled;
  try {
    enabled = await api.apiEnabled();
  } catch (error) {
    return screen(notice("bad", "The Worker did not answer as expected.", error.message));
  }
  if (!enabled) return apiOff();
  if (!api.token()) return signIn();

  nav.hidden = false;
  signOut.hidden = false;
  const route = parseRoute(location.hash);
  for (const link of nav.querySelectorAll("a")) {
    const active = link.dataset.page === route.page || (route.page === "event" && link.dataset.page === "events");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const context = {
    /// Calls the API; a refused token signs out.
    call: async (path, options) => {
      try {
        return await api.call(path, options);
      } catch (error) {
        if (error instanceof api.TokenRefused) {
          api.forgetToken();
          signIn("The Worker refused the token: it was changed or mistyped. Enter it again.");
        }
        throw error;
      }
    },
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
  try {
    current.cleanup = PAGES[route.page].render(main, route, context) ?? (() => {});
  } catch (error) {
    screen(notice("bad", "This page failed to load.", error.message));
  }
}

function screen(...children) {
  nav.hidden = api.token() === null;
  replace(main, h("section", { class: "screen" }, children));
  main.setAttribute("aria-busy", "false");
}

function apiOff() {
  nav.hidden = true;
  signOut.hidden = true;
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

function signIn(problem) {
  nav.hidden = true;
  signOut.hidden = true;
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
      "The Worker's QASE_ADMIN_TOKEN (locally: in .dev.vars). It is kept for this browser session only, and sent to this Worker only.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  async function submit(e) {
    e.preventDefault();
    api.setToken(input.value.trim());
    try {
      await api.call("/api/events", { query: { limit: 1 } });
    } catch (failure) {
      api.forgetToken();
      replace(
        error,
        failure instanceof api.TokenRefused
          ? "The Worker refused this token. Check QASE_ADMIN_TOKEN and try again."
          : `The API answered: ${failure.message}`,
      );
      input.select();
      return;
    }
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
  current.cleanup();
  signIn();
});
window.addEventListener("hashchange", show);
refreshHealth();
setInterval(refreshHealth, 30_000);
show();
