// Dead letters: what was given up, why, and replay (one, or all that match
// the filter after showing how many that is).

import { badge, h, notice, replace } from "../dom.js";
import { ago, when } from "../format.js";
import { field, formParams, hashOf, rangeFields, textInput, timeRange } from "../filters.js";

const PAGE_SIZE = 50;
/// The most dead letters one "replay all" sends (one API call each).
const REPLAY_ALL_CAP = 500;

export function render(main, route, { call, go, ready }) {
  const params = { range: "30d", ...route.params };
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter dead letters",
      onsubmit: (e) => {
        e.preventDefault();
        go(hashOf("dead-letters", formParams(form)));
      },
    },
    field("Destination", textInput("destination", params.destination, { placeholder: "any", size: 10 })),
    field("Project", textInput("project", params.project, { placeholder: "any", size: 8 })),
    rangeFields(params),
    h("button", { type: "submit" }, "Apply"),
    h("a", { href: "#/dead-letters", class: "button quiet" }, "Clear"),
  );
  const bulk = h("section", { class: "card bulk", "aria-label": "Replay all" });
  const status = h("div", { role: "status", "aria-live": "polite" });
  const body = h("tbody");
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Load more");
  replace(
    main,
    h("h1", {}, "Dead letters"),
    h(
      "p",
      { class: "muted" },
      "Deliveries given up: rejected by the destination (a 4xx other than 408/429), or out of attempts. The event itself is kept; replay sends it again.",
    ),
    form,
    bulk,
    status,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "list" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Given up"),
            h("th", { scope: "col" }, "Event"),
            h("th", { scope: "col" }, "Destination"),
            h("th", { scope: "col" }, "Reason"),
            h("th", { scope: "col" }, "Last answer"),
            h("th", { scope: "col", class: "wide" }, "Attempts"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        body,
      ),
    ),
    more,
  );

  const { since, until } = timeRange(params);
  const filter = { destination: params.destination, project: params.project, since, until };
  let cursor = null;

  function row(dead) {
    const replayOne = h("button", { type: "button", class: "quiet" }, "Replay");
    replayOne.addEventListener("click", async () => {
      replayOne.disabled = true;
      try {
        await call(`/api/dead-letters/${encodeURIComponent(dead.id)}/replay`, {
          method: "POST",
          query: { destination: dead.destination },
        });
        replace(status, notice("good", `Queued ${dead.event_name} for ${dead.destination} again.`));
        replayOne.closest("tr").remove();
      } catch (error) {
        replayOne.disabled = false;
        replace(status, notice("bad", "Not replayed.", error.message));
      }
    });
    return h(
      "tr",
      { "data-id": dead.id },
      h("td", { title: when(dead.dead_at) }, ago(dead.dead_at)),
      h(
        "td",
        {},
        h("a", { href: `#/events/${encodeURIComponent(dead.id)}` }, dead.event_name),
        h("span", { class: "muted" }, ` ${dead.project_code}`),
      ),
      h("td", {}, dead.destination),
      h("td", {}, badge(dead.reason ?? "dead", "bad")),
      h(
        "td",
        {},
        dead.last_status ? `HTTP ${dead.last_status}` : "",
        dead.last_error ? h("div", { class: "error-text" }, dead.last_error) : null,
      ),
      h("td", { class: "wide" }, dead.attempts),
      h("td", {}, replayOne),
    );
  }

  async function load() {
    try {
      const page = await call("/api/dead-letters", {
        query: { ...filter, limit: PAGE_SIZE, cursor: cursor ?? undefined },
      });
      if (!cursor) body.replaceChildren();
      for (const dead of page.dead_letters) body.append(row(dead));
      if (!body.children.length)
        body.append(
          h(
            "tr",
            {},
            h(
              "td",
              { colspan: 7, class: "muted" },
              "No dead letters match. Every delivery in this range arrived or is still being retried.",
            ),
          ),
        );
      cursor = page.cursor;
      more.hidden = !cursor;
    } catch (error) {
      replace(status, notice("bad", "The dead letters could not be loaded.", error.message));
    }
  }

  /// Replay all that match: first how many (every page of the listing),
  /// then, on confirmation, each dead letter through its own replay, which
  /// sends it to that destination only (never again to one that has it).
  async function countAll() {
    const matching = [];
    let next = null;
    try {
      do {
        const page = await call("/api/dead-letters", { query: { ...filter, limit: 1000, cursor: next ?? undefined } });
        matching.push(...page.dead_letters);
        next = page.cursor;
      } while (next && matching.length < REPLAY_ALL_CAP);
    } catch (error) {
      replace(bulk, notice("bad", "Could not count what to replay.", error.message));
      return;
    }
    if (!matching.length) {
      replace(bulk, h("p", { class: "muted" }, "Nothing to replay for this filter."), idleButton());
      return;
    }
    const chosen = matching.slice(0, REPLAY_ALL_CAP);
    const events = new Set(chosen.map((dead) => dead.id)).size;
    const confirm = h(
      "button",
      { type: "button", id: "replay-all-confirm" },
      `Replay ${chosen.length} dead letter${chosen.length === 1 ? "" : "s"}`,
    );
    const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
    cancel.addEventListener("click", idle);
    confirm.addEventListener("click", () => replayAll(chosen));
    replace(
      bulk,
      h(
        "p",
        { id: "replay-all-count" },
        `${chosen.length} dead letter${chosen.length === 1 ? "" : "s"} (${events} event${events === 1 ? "" : "s"}) match this filter${next ? ` (the first ${REPLAY_ALL_CAP}; replay again for the rest)` : ""}.`,
      ),
      confirm,
      " ",
      cancel,
    );
    confirm.focus();
  }

  async function replayAll(chosen) {
    let done = 0;
    const failed = [];
    for (const dead of chosen) {
      try {
        await call(`/api/dead-letters/${encodeURIComponent(dead.id)}/replay`, {
          method: "POST",
          query: { destination: dead.destination },
        });
        done += 1;
      } catch (error) {
        failed.push(`${dead.id} → ${dead.destination}: ${error.message}`);
      }
      replace(bulk, h("p", {}, `Replayed ${done} of ${chosen.length}…`));
    }
    replace(
      bulk,
      failed.length
        ? notice(
            "warning",
            `Replayed ${done} of ${chosen.length}; ${failed.length} failed.`,
            h(
              "ul",
              {},
              failed.map((line) => h("li", {}, line)),
            ),
          )
        : notice("good", `Replayed ${done} dead letter${done === 1 ? "" : "s"}: they are queued for delivery again.`),
      idleButton(),
    );
    cursor = null;
    load();
  }

  function idleButton() {
    const button = h("button", { type: "button", id: "replay-all" }, "Replay all that match…");
    button.addEventListener("click", countAll);
    return button;
  }

  function idle() {
    replace(bulk, idleButton());
  }

  more.addEventListener("click", load);
  idle();
  load().then(ready);
  return () => {};
}
