// Dead letters: what was given up, why, and replay for operators: one, or
// all that match the filter through the server's bulk replay
// (`POST /api/replay`), after its dry run has said how many that is.

import { badge, h, listTable, notice, replace } from "../dom.js";
import { ago, when } from "../format.js";
import { field, formParams, hashOf, rangeFields, textInput, timeRange } from "../filters.js";

const PAGE_SIZE = 50;

/// "1 event", "2 events".
function count(n, what) {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/// The body of `POST /api/replay` that selects this page's dead letters
/// (without `dry_run` and `cursor`). The bulk replay filters events, not
/// dead letters: `state: "dead"` selects the events with a dead delivery
/// (to `destination`, when given, which is then also the only destination
/// they are replayed to), and `since`/`until` are when the event was
/// received, where the list's are when the delivery was given up (an event
/// given up in the range but received before it is listed, not replayed).
/// Replay all asks for a destination first (see countAll).
export function bulkFilter({ destination, project, since, until }) {
  return { state: "dead", destination, project, since, until };
}

export function render(main, route, { call, can, go, ready, signal }) {
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
  // Replay is for operators: a viewer sees the list, not the buttons.
  const bulk = can("replay") ? h("section", { class: "card bulk", "aria-label": "Replay all" }) : null;
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
    listTable(
      [
        "Given up",
        "Event",
        "Destination",
        "Reason",
        "Last answer",
        { label: "Attempts", wide: true },
        { label: h("span", { class: "visually-hidden" }, "Actions") },
      ],
      body,
    ),
    more,
  );

  const { since, until } = timeRange(params);
  const filter = { destination: params.destination, project: params.project, since, until };
  let cursor = null;

  function row(dead) {
    const replayOne = can("replay") ? h("button", { type: "button", class: "quiet" }, "Replay") : null;
    replayOne?.addEventListener("click", async () => {
      replayOne.disabled = true;
      try {
        await call(`/api/dead-letters/${encodeURIComponent(dead.id)}/replay`, {
          method: "POST",
          query: { destination: dead.destination },
          keep: true,
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

  /// Replay all that match: first the server's dry run says how many, then,
  /// on confirmation, the bulk replay with the same filter, called again
  /// with its `cursor` until there is none. Leaving the page starts no new
  /// call (the one in flight is let finish: it is sending).
  async function countAll() {
    // A dead letter is one event and one destination, and the bulk replay
    // selects events: without a destination it would send each event to
    // every destination it matches, again to those it reached (a second chat
    // message, a second CI trigger). One destination at a time sends what
    // failed to reach it there only, as replaying each dead letter would.
    if (!filter.destination) {
      replace(
        bulk,
        h(
          "div",
          { id: "replay-all-needs-destination" },
          notice(
            "warning",
            "Choose a destination first.",
            "Replay all sends what failed to reach one destination to that destination only: enter its name in the filter above and Apply. Without one, each event would also go again to the destinations that have it.",
          ),
        ),
        idleButton(),
      );
      return;
    }
    const selection = bulkFilter(filter);
    let dry;
    try {
      dry = await call("/api/replay", { method: "POST", body: { ...selection, dry_run: true } });
    } catch (error) {
      replace(bulk, notice("bad", "Could not count what to replay.", error.message), idleButton());
      return;
    }
    const skipped = dry.skipped
      ? ` ${count(dry.skipped, "event")} no enabled destination matches would be skipped.`
      : "";
    if (!dry.events) {
      replace(bulk, h("p", { class: "muted", id: "replay-all-count" }, `Nothing to replay for this filter.${skipped}`));
      bulk.append(idleButton());
      return;
    }
    const where = `to ${filter.destination} only`;
    const confirm = h("button", { type: "button", id: "replay-all-confirm" }, `Replay ${count(dry.events, "event")}`);
    const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
    cancel.addEventListener("click", idle);
    confirm.addEventListener("click", () => replayAll(selection));
    replace(
      bulk,
      h(
        "p",
        { id: "replay-all-count" },
        `${count(dry.events, "event")} with a dead letter, received in this range, match this filter: ${count(dry.messages, "message")} ${where}.${skipped}`,
      ),
      confirm,
      " ",
      cancel,
    );
    confirm.focus();
  }

  async function replayAll(selection) {
    const sent = { events: 0, messages: 0, skipped: 0, calls: 0 };
    const progress = h("p", { id: "replay-all-progress" }, "Replaying…");
    replace(bulk, progress);
    let next = null;
    let failure = null;
    do {
      // The user left: nothing new starts (the server keeps what it was sent).
      if (signal.aborted) return;
      try {
        const answer = await call("/api/replay", {
          method: "POST",
          body: next ? { ...selection, cursor: next } : selection,
          keep: true,
        });
        sent.calls += 1;
        sent.events += answer.events;
        sent.messages += answer.messages;
        sent.skipped += answer.skipped;
        next = answer.cursor;
      } catch (error) {
        failure = error;
        break;
      }
      replace(progress, `Replayed ${count(sent.events, "event")} so far (${count(sent.calls, "call")})…`);
    } while (next);
    const summary = `${count(sent.events, "event")} replayed (${count(sent.messages, "message")} queued, ${sent.skipped} skipped) in ${count(sent.calls, "call")}`;
    replace(
      bulk,
      h(
        "div",
        { id: "replay-all-summary" },
        failure
          ? notice("bad", `Stopped: ${summary}, then a call failed.`, failure.message)
          : notice("good", `Done: ${summary}. They are queued for delivery again.`),
      ),
      idleButton(),
    );
    cursor = null;
    if (!signal.aborted) load();
  }

  function idleButton() {
    const button = h("button", { type: "button", id: "replay-all" }, "Replay all that match…");
    button.addEventListener("click", countAll);
    return button;
  }

  function idle() {
    if (bulk) replace(bulk, idleButton());
  }

  more.addEventListener("click", load);
  idle();
  load().then(ready);
}
