// Events: newest first, refreshed every few seconds (while "Live" is on and
// the tab is visible; never two refreshes at once), with filters and the
// events per hour by entity for the range.

import { badge, h, listTable, notice, replace } from "../dom.js";
import { ago, bytes, tone, when } from "../format.js";
import { hourlyChart } from "../chart.js";
import { field, formParams, hashOf, rangeFields, select, textInput, timeRange } from "../filters.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5_000;
const CHART_REFRESH_MS = 30_000;

export function render(main, route, { call, go, poll, ready }) {
  const params = route.params;
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter events",
      onsubmit: (e) => {
        e.preventDefault();
        go(hashOf("events", formParams(form)));
      },
    },
    field("Project", textInput("project", params.project, { placeholder: "any", size: 8 })),
    field("Event", textInput("event", params.event, { placeholder: "run.* or run.completed", size: 16 })),
    field(
      "Outcome",
      select("outcome", params.outcome, [
        ["", "any"],
        ["accepted", "accepted"],
        ["quarantined", "quarantined"],
      ]),
    ),
    field(
      "Delivery",
      select("state", params.state, [
        ["", "any"],
        ["delivered", "delivered"],
        ["retrying", "retrying"],
        ["dead", "dead"],
      ]),
    ),
    field("Run", textInput("run", params.run, { inputmode: "numeric", pattern: "[0-9]*", placeholder: "id", size: 6 })),
    rangeFields(params),
    h("button", { type: "submit" }, "Apply"),
    h("a", { href: "#/events", class: "button quiet" }, "Clear"),
  );
  const live = h("input", { type: "checkbox", id: "live", checked: true });
  const status = h("span", { class: "muted", role: "status", "aria-live": "polite" });
  const chart = h("section", { class: "card", "aria-label": "Events per hour" });
  const body = h("tbody");
  const table = listTable(
    [
      "Received",
      "Event",
      "Project",
      { label: "Run", wide: true },
      "Outcome",
      { label: "Forwarding", wide: true },
      { label: "Size", wide: true },
    ],
    body,
  );
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Load older events");
  const errors = h("div");
  replace(
    main,
    h("h1", {}, "Events"),
    form,
    chart,
    h("div", { class: "list-head" }, h("label", { class: "toggle" }, live, " Live"), status),
    errors,
    table,
    more,
  );

  const range = () => timeRange(params);
  const query = () => {
    const { since, until } = range();
    return {
      project: params.project,
      event: params.event,
      outcome: params.outcome,
      state: params.state,
      run: params.run,
      since,
      until,
    };
  };
  const shown = new Set();
  let cursor = null;

  function row(event, fresh) {
    const link = h("a", { href: `#/events/${encodeURIComponent(event.id)}` }, event.event_name);
    return h(
      "tr",
      { class: fresh ? "fresh" : null, "data-id": event.id },
      h("td", { title: when(event.received_at) }, ago(event.received_at)),
      h("td", {}, link, event.duplicates ? h("span", { class: "muted" }, ` ×${event.duplicates + 1}`) : null),
      h("td", {}, event.project_code),
      h("td", { class: "wide" }, event.run_id ?? ""),
      h("td", {}, badge(event.outcome, tone(event.outcome))),
      h("td", { class: "wide" }, badge(event.forward, event.forward === "pending" ? "warning" : "neutral")),
      h("td", { class: "wide" }, bytes(event.size)),
    );
  }

  async function load({ older = false } = {}) {
    try {
      const page = await call("/api/events", {
        query: { ...query(), limit: PAGE_SIZE, cursor: older ? cursor : undefined },
      });
      replace(errors);
      if (older) {
        for (const event of page.events)
          if (!shown.has(event.id)) {
            shown.add(event.id);
            body.append(row(event, false));
          }
        cursor = page.cursor;
      } else {
        // Newest first: what is not shown yet goes on top, in order.
        const fresh = page.events.filter((event) => !shown.has(event.id));
        const first = shown.size === 0;
        for (const event of fresh.reverse()) {
          shown.add(event.id);
          body.prepend(row(event, !first));
        }
        if (first) cursor = page.cursor;
        if (!first && fresh.length) replace(status, `${fresh.length} new event${fresh.length === 1 ? "" : "s"}`);
      }
      more.hidden = !cursor;
      if (shown.size === 0)
        replace(body, h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No event matches these filters yet.")));
      else body.querySelector("td[colspan]")?.parentElement.remove();
    } catch (error) {
      replace(
        errors,
        notice("bad", "The events could not be loaded.", `${error.message} (${error.code ?? "network"})`),
      );
    }
  }

  async function loadChart() {
    const { since, until } = range();
    try {
      // Stats need both ends: a preset range ends now (the hour bucket
      // holding now included).
      const end = until ?? Math.floor(Date.now() / 1000) + 1;
      const stats = await call("/api/stats", {
        query: { project: params.project, since: since ?? end - 86400, until: end },
      });
      const totals = stats.totals ?? {};
      replace(
        chart,
        h("h2", {}, "Events per hour", params.project ? ` in ${params.project}` : ""),
        h(
          "p",
          { class: "muted" },
          `${totals.events ?? 0} events: ${totals.accepted ?? 0} accepted, ${totals.quarantined ?? 0} quarantined, ${totals.duplicates ?? 0} duplicate copies`,
        ),
        hourlyChart(stats),
      );
    } catch (error) {
      replace(chart, notice("warning", "The chart could not be loaded.", error.message));
    }
  }

  more.addEventListener("click", () => load({ older: true }));
  // The first loads are the polls' first runs: the next refresh is
  // scheduled only after each has answered.
  const paused = () => !live.checked || document.hidden;
  const events = poll(load, REFRESH_MS, { paused });
  const hourly = poll(loadChart, CHART_REFRESH_MS, { paused });
  Promise.all([events.now(), hourly.now()]).then(ready);
}
