// Destinations: each one's state, success rate and last error (pause and
// resume for operators), and the Worker's configuration health with each
// problem explained. Refreshed every few seconds while the tab is visible.

import { health as fetchHealth } from "../api.js";
import { badge, facts, h, listTable, notice, replace } from "../dom.js";
import { ago, duration, percent, tone, when } from "../format.js";

const REFRESH_MS = 10_000;

/// What each `config_problems[].effect` of `GET /health` means for the operator.
const EFFECTS = {
  operator_api_off: "The operator API (and this console) is off until this is fixed.",
  metrics_token_off: "GET /metrics takes only the admin token until this is fixed.",
  api_tokens_off: "No token of QASE_API_TOKENS is accepted until this is fixed (the admin token still is).",
  access_roles_off: "No Access identity has a role until this is fixed.",
  access_locked:
    "Cloudflare Access is half or wrongly configured: the API and this console answer 503 until it is fixed.",
  delivery_paused:
    "Deliveries are held in the queue, not lost, until this is fixed; Qase's events are still accepted and stored.",
  duplicates_not_detected: "Copies of the same delivery are not recognised as duplicates.",
  default_used: "The default value is used instead.",
  watch_off: "No project is watched: a webhook Qase disabled goes unnoticed until this is fixed.",
};

const STATUS = {
  ok: "Everything is configured.",
  degraded: "Deliveries are accepted and stored, but an optional setting is broken (below).",
  no_secret_configured: "No webhook secret is set: every delivery is refused. Set QASE_WEBHOOK_SECRET.",
  misconfigured: "A required setting is broken: deliveries are refused until it is fixed.",
};

export function render(main, _route, { call, can, poll, ready, signal }) {
  const list = h("section", { class: "card", "aria-labelledby": "destinations-title" });
  const watched = h("section", { class: "card", "aria-labelledby": "watch-title", hidden: true });
  const webhooks = h("section", { class: "card", "aria-labelledby": "webhooks-title", hidden: true });
  const health = h("section", { class: "card", "aria-labelledby": "health-title" });
  const status = h("div", { role: "status", "aria-live": "polite" });
  replace(main, h("h1", {}, "Destinations"), status, list, watched, webhooks, health);

  async function load() {
    try {
      const answer = await call("/api/destinations");
      renderList(answer.destinations ?? answer);
    } catch (error) {
      replace(list, notice("bad", "The destinations could not be loaded.", error.message));
    }
    await renderHealth();
  }

  function renderList(destinations) {
    if (!destinations.length) {
      replace(
        list,
        h("h2", { id: "destinations-title" }, "Destinations"),
        h(
          "p",
          { class: "muted" },
          "No destination is configured: events are stored but not forwarded. Add some to QASE_DESTINATIONS (README, Delivery).",
        ),
      );
      return;
    }
    replace(
      list,
      h("h2", { id: "destinations-title" }, "Destinations"),
      listTable(
        [
          "Name",
          "State",
          "Success (24 h)",
          { label: "Delivered / failed / dead", wide: true },
          "Last error",
          { label: "Last success", wide: true },
          { label: h("span", { class: "visually-hidden" }, "Actions") },
        ],
        h("tbody", {}, destinations.map(row)),
      ),
    );
  }

  function row(destination) {
    const day = destination.last_24h ?? {};
    const attempted = (day.delivered ?? 0) + (day.failed ?? 0);
    const state = destination.state ?? "unknown";
    // A viewer (or a project-scoped operator) sees the state, not the button.
    let action = null;
    if (can("pause")) {
      const what = state === "active" || state === "unknown" ? "pause" : "resume";
      action = h(
        "button",
        { type: "button", class: "quiet", onclick: () => force(destination.name, what) },
        what === "pause" ? "Pause" : "Resume",
      );
    }
    return h(
      "tr",
      { "data-destination": destination.name },
      h(
        "td",
        {},
        h("strong", {}, destination.name),
        h(
          "div",
          { class: "muted" },
          [destination.format, destination.alerts ? "alerts" : null, destination.reports ? "reports" : null]
            .filter(Boolean)
            .join(" · "),
        ),
      ),
      h(
        "td",
        {},
        badge(state, tone(state)),
        destination.since
          ? h("div", { class: "muted", title: when(destination.since) }, `since ${ago(destination.since)}`)
          : null,
        destination.reason
          ? h("div", { class: "muted" }, destination.reason, destination.paused_by_operator ? " (by an operator)" : "")
          : null,
        destination.held ? h("div", {}, `${destination.held} held`) : null,
        destination.next_probe_at
          ? h(
              "div",
              { class: "muted", title: when(destination.next_probe_at) },
              `next probe ${ago(destination.next_probe_at)}`,
            )
          : null,
        destination.consecutive_failures
          ? h("div", { class: "muted" }, `${destination.consecutive_failures} failures in a row`)
          : null,
      ),
      h(
        "td",
        {},
        day.success_rate !== undefined && day.success_rate !== null
          ? percent(day.success_rate, 1)
          : percent(day.delivered ?? 0, attempted),
      ),
      h("td", { class: "wide" }, `${day.delivered ?? 0} / ${day.failed ?? 0} / ${day.dead ?? 0}`),
      h(
        "td",
        {},
        destination.last_error
          ? [
              h("div", { class: "error-text" }, destination.last_error),
              h("div", { class: "muted", title: when(destination.last_error_at) }, ago(destination.last_error_at)),
            ]
          : h("span", { class: "muted" }, "none"),
      ),
      h("td", { class: "wide", title: when(destination.last_success_at) }, ago(destination.last_success_at)),
      h("td", {}, action),
    );
  }

  async function force(name, what) {
    try {
      // Let finish even if the user leaves: it changes the destination.
      await call(`/api/destinations/${encodeURIComponent(name)}/${what}`, { method: "POST", keep: true });
      replace(
        status,
        notice(
          "good",
          what === "pause"
            ? `${name} is paused: its events are held, not attempted.`
            : `${name} resumed: what was held is delivered in order of arrival.`,
        ),
      );
      refresh.now();
    } catch (error) {
      replace(status, notice("bad", `${name} was not ${what === "pause" ? "paused" : "resumed"}.`, error.message));
    }
  }

  async function renderHealth() {
    let answer;
    try {
      answer = await fetchHealth(signal);
    } catch (error) {
      replace(health, notice("bad", "GET /health did not answer.", error.message));
      return;
    }
    renderWatched(answer.watch ?? []);
    renderWebhooks(answer.webhooks ?? []);
    const problems = answer.config_problems ?? [];
    replace(
      health,
      h("h2", { id: "health-title" }, "Configuration health ", badge(answer.status, tone(answer.status))),
      h("p", {}, STATUS[answer.status] ?? answer.status),
      answer.config_error ? notice("bad", `${answer.config_error.key}: ${answer.config_error.problem}`) : null,
      problems.length
        ? h(
            "ul",
            { class: "problems" },
            problems.map((p) =>
              h(
                "li",
                {},
                h("strong", {}, p.key),
                ": ",
                p.problem,
                h("div", { class: "muted" }, EFFECTS[p.effect] ?? p.effect),
              ),
            ),
          )
        : null,
      facts([
        ["Version", answer.version],
        ["Commit", answer.commit],
      ]),
    );
  }

  /// The projects of QASE_WATCH: silence past their window means Qase may
  /// have disabled the webhook.
  function renderWatched(projects) {
    watched.hidden = projects.length === 0;
    replace(
      watched,
      h("h2", { id: "watch-title" }, "Watched projects"),
      h(
        "p",
        { class: "muted" },
        "Qase disables a webhook that keeps failing and tells only the owner, by e-mail. A watched project silent for longer than its window raises an alert: check the webhook in Qase's project settings.",
      ),
      listTable(
        ["Project", "Last delivery", "Normal silence", "State"],
        h(
          "tbody",
          {},
          projects.map((project) =>
            h(
              "tr",
              { "data-project": project.project },
              h("td", {}, project.project),
              h(
                "td",
                { title: when(project.last_delivery_at) },
                project.last_delivery_at ? ago(project.last_delivery_at) : "none yet",
              ),
              h("td", {}, duration(project.window_seconds * 1000)),
              h(
                "td",
                {},
                project.quiet ? badge("quiet", "bad") : badge("receiving", "good"),
                project.alerted_at ? h("div", { class: "muted" }, `alerted ${ago(project.alerted_at)}`) : null,
              ),
            ),
          ),
        ),
      ),
    );
  }

  /// Each reconciled project's webhook (issue #29): suspected disabled when
  /// Qase's API shows runs that no delivery told of.
  function renderWebhooks(projects) {
    webhooks.hidden = projects.length === 0;
    const suspected = projects.filter((p) => p.state === "suspected_disabled");
    replace(
      webhooks,
      h("h2", { id: "webhooks-title" }, "Webhooks"),
      h(
        "p",
        { class: "muted" },
        "Qase's API is asked about runs in each reconciled project silent for longer than the grace (QASE_DISABLED_GRACE). Runs that no delivery told of mean the webhook is most likely disabled.",
      ),
      suspected.length
        ? notice(
            "bad",
            `Suspected disabled: ${suspected.map((p) => p.project).join(", ")}.`,
            "In Qase, open the project's Settings → Webhooks: re-enable the webhook, and check its endpoint URL and its secret. This clears when a delivery arrives.",
          )
        : null,
      listTable(
        ["Project", "Last delivery", "Grace", "Webhook"],
        h(
          "tbody",
          {},
          projects.map((project) =>
            h(
              "tr",
              { "data-project": project.project, "data-webhook": project.state },
              h("td", {}, project.project),
              h(
                "td",
                { title: when(project.last_delivery_at) },
                project.last_delivery_at ? ago(project.last_delivery_at) : "none yet",
              ),
              h("td", {}, duration(project.grace_seconds * 1000)),
              h(
                "td",
                {},
                project.state === "suspected_disabled"
                  ? [
                      badge("suspected disabled", "bad"),
                      h(
                        "div",
                        { class: "muted" },
                        `${project.runs_untold ?? 1} run(s) untold, e.g. run ${project.run}; since ${ago(project.suspected_at)}`,
                      ),
                    ]
                  : badge("clear", "good"),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // The first load is the poll's first run: the next is scheduled only
  // after it has answered.
  const refresh = poll(load, REFRESH_MS, { paused: () => document.hidden });
  refresh.now().then(ready);
}
