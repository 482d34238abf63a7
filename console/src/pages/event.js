// One event: what happened in words, its deliveries to each destination
// as a timeline of attempts, replay (for operators) followed until the new
// attempt shows, and the exact body.

import { badge, facts, h, notice, replace } from "../dom.js";
import { ago, bytes, duration, tone, when } from "../format.js";

/// The newest `updated_at` of an event's deliveries (0 without any).
function lastUpdate(event) {
  return Math.max(0, ...(event?.deliveries ?? []).map((d) => d.updated_at));
}

/// What each attempt's `result` reads as, and its colour.
const ATTEMPT_WORDS = {
  delivered: "delivered",
  failed_will_retry: "failed, will retry",
  failed_final: "failed, given up",
  held_while_paused: "held: the destination is paused",
  probe: "sent as the paused destination's probe",
};
const ATTEMPT_TONES = {
  delivered: "good",
  failed_will_retry: "warning",
  failed_final: "bad",
  held_while_paused: "neutral",
  probe: "neutral",
};

/// After a replay, how long (and how often) the page looks for the new attempt.
const FOLLOW_MS = 20_000;
const FOLLOW_EVERY_MS = 1_000;

export function render(main, route, { call, can, poll, ready }) {
  const id = route.id;
  const summary = h("section", { class: "card" });
  const deliveries = h("section", { class: "card", "aria-labelledby": "deliveries-title" });
  const body = h("section", { class: "card", "aria-labelledby": "body-title" });
  const replayStatus = h("p", { id: "replay-status", role: "status", "aria-live": "polite", class: "muted" });
  // Only for a role that may replay: a viewer sees the deliveries, not the buttons.
  const replayButton = can("replay")
    ? h("button", { type: "button", id: "replay" }, "Replay to every destination")
    : null;
  replace(main, h("p", {}, h("a", { href: "#/events" }, "← Events")), summary, deliveries, body);
  /// Stops the watch for a replay's new attempt (a second replay starts its own).
  let watching = null;
  /// The event as last shown: a replay is seen when a delivery moves past it.
  let shown = null;

  async function load() {
    let event;
    try {
      event = await call(`/api/events/${encodeURIComponent(id)}`);
    } catch (error) {
      replace(
        summary,
        notice("bad", error.status === 404 ? "No such event." : "The event could not be loaded.", error.message),
      );
      replace(deliveries);
      replace(body);
      return;
    }
    renderSummary(event);
    renderDeliveries(event);
    shown = event;
    return event;
  }

  function renderSummary(event) {
    const d = event.description;
    const heading = h("h1", { id: "event-title" }, d ? d.headline : event.event_name);
    replace(
      summary,
      heading,
      d?.title ? h("p", { class: "title" }, d.title) : null,
      h(
        "p",
        {},
        badge(event.outcome, tone(event.outcome)),
        " ",
        d ? badge(d.status ?? event.event_name, tone(d.tone)) : null,
        " ",
        d?.url ? h("a", { href: d.url, target: "_blank", rel: "noopener noreferrer" }, `${d.label} in Qase ↗`) : null,
      ),
      d?.summary ? h("blockquote", {}, d.summary) : null,
      event.reason ? notice("warning", "Quarantined", event.reason) : null,
      facts([
        ["Event", event.event_name],
        ["Project", event.project_code],
        ["Received", `${when(event.received_at)} (${ago(event.received_at)})`],
        ["Team member", event.team_member_id],
        ["Run", event.run_id],
        ["Case", event.case_id],
        ["Defect", event.defect_id],
        ["Plan", event.plan_id],
        ["Milestone", event.milestone_id],
        ...(d?.facts ?? []).map((fact) => [fact.label, fact.value]),
        ["Copies received", event.duplicates ? `${event.duplicates + 1} (the same bytes; delivered once)` : null],
        ["Size", bytes(event.size)],
        ["Id", h("code", {}, event.id)],
      ]),
    );
  }

  function renderDeliveries(event) {
    const list = event.deliveries ?? [];
    const items = list.map((delivery) =>
      h(
        "li",
        { class: "delivery", "data-destination": delivery.destination },
        h(
          "div",
          { class: "delivery-head" },
          h("strong", {}, delivery.destination),
          " ",
          badge(delivery.status, tone(delivery.status)),
          " ",
          h(
            "span",
            { class: "muted" },
            `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}, ${ago(delivery.updated_at)}`,
          ),
          delivery.status === "dead" && can("replay")
            ? h(
                "button",
                { type: "button", class: "quiet", onclick: () => replayDead(delivery.destination) },
                "Replay this dead letter",
              )
            : null,
        ),
        delivery.reason ? h("p", {}, "Given up: ", delivery.reason) : null,
        timeline(delivery),
      ),
    );
    const forwarding = {
      none: "This event was not routed to any destination (QASE_ROUTES or no destination matches it).",
      pending: "Waiting for the delivery queue; the sweep sends it again if the queue lost it.",
      queued: list.length ? null : "The delivery consumer has it; no attempt is recorded yet.",
    }[event.forward];
    replace(
      deliveries,
      h("div", { class: "section-head" }, h("h2", { id: "deliveries-title" }, "Deliveries"), replayButton),
      replayStatus,
      forwarding ? h("p", { class: "muted" }, forwarding) : null,
      items.length ? h("ul", { class: "deliveries" }, items) : null,
    );
  }

  /// The attempts, oldest first (`attempts_log`: the Worker keeps the last
  /// 20 per destination), else the delivery's last state.
  function timeline(delivery) {
    const attempts = delivery.attempts_log;
    if (!attempts?.length) {
      return h(
        "ol",
        { class: "timeline" },
        h(
          "li",
          { class: tone(delivery.status) },
          h("span", { class: "when" }, when(delivery.updated_at)),
          " ",
          `Attempt ${delivery.attempts}: `,
          delivery.last_status ? `HTTP ${delivery.last_status}` : delivery.status,
          delivery.status !== "delivered" && delivery.last_error
            ? h("span", { class: "error-text" }, ` — ${delivery.last_error}`)
            : null,
        ),
      );
    }
    return h(
      "ol",
      { class: "timeline" },
      attempts.map((attempt) =>
        h(
          "li",
          { class: ATTEMPT_TONES[attempt.result] ?? "neutral" },
          h("span", { class: "when" }, when(attempt.at)),
          " ",
          attempt.n ? `Attempt ${attempt.n}: ` : "",
          ATTEMPT_WORDS[attempt.result] ?? attempt.result,
          attempt.status ? ` (HTTP ${attempt.status})` : "",
          attempt.latency_ms !== undefined && attempt.latency_ms !== null
            ? h("span", { class: "muted" }, ` in ${duration(attempt.latency_ms)}`)
            : null,
          attempt.error ? h("span", { class: "error-text" }, ` — ${attempt.error}`) : null,
          attempt.next_at
            ? h("span", { class: "muted" }, ` · next try ${when(attempt.next_at)} (${ago(attempt.next_at)})`)
            : null,
        ),
      ),
    );
  }

  async function replay() {
    replayButton.disabled = true;
    const baseline = lastUpdate(shown);
    try {
      const answer = await call(`/api/events/${encodeURIComponent(id)}/replay`, {
        method: "POST",
        body: {},
        keep: true,
      });
      replace(
        replayStatus,
        `Queued for ${answer.destinations?.length ?? 0} destination(s): ${(answer.destinations ?? []).join(", ")}. Watching for the new attempt…`,
      );
      follow(baseline);
    } catch (error) {
      replace(replayStatus, notice("bad", "Not replayed.", error.message));
    } finally {
      replayButton.disabled = false;
    }
  }

  async function replayDead(destination) {
    const baseline = lastUpdate(shown);
    try {
      await call(`/api/dead-letters/${encodeURIComponent(id)}/replay`, {
        method: "POST",
        query: { destination },
        keep: true,
      });
      replace(replayStatus, `The dead letter for ${destination} is queued again. Watching for the new attempt…`);
      follow(baseline);
    } catch (error) {
      replace(replayStatus, notice("bad", "Not replayed.", error.message));
    }
  }

  /// Reloads every second until a delivery was updated after `baseline`
  /// (the newest update shown before the replay: the consumer can be
  /// quicker than the replay's own answer), or for FOLLOW_MS; a poll, so
  /// it stops when the user leaves the page.
  function follow(baseline) {
    const until = Date.now() + FOLLOW_MS;
    watching?.abort();
    const watch = new AbortController();
    watching = watch;
    poll(
      async () => {
        const event = await load();
        const moved = lastUpdate(event) > baseline;
        if (moved || Date.now() > until) {
          watch.abort();
          replace(
            replayStatus,
            moved ? "New attempt recorded below." : "No new attempt yet: the queue may be retrying; reload later.",
          );
        }
      },
      FOLLOW_EVERY_MS,
      { signal: watch.signal },
    );
  }

  async function loadBody() {
    try {
      const text = await call(`/api/events/${encodeURIComponent(id)}/body`, { raw: true });
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // Not JSON (a quarantined delivery): shown as it came.
      }
      replace(
        body,
        h(
          "div",
          { class: "section-head" },
          h("h2", { id: "body-title" }, "Body"),
          h(
            "a",
            {
              class: "button quiet",
              href: `#/events/${encodeURIComponent(id)}`,
              onclick: (e) => {
                e.preventDefault();
                navigator.clipboard?.writeText(text);
              },
            },
            "Copy exact bytes",
          ),
        ),
        h(
          "p",
          { class: "muted" },
          "Pretty-printed; the exact bytes are at /api/events/{id}/body and are what destinations receive.",
        ),
        h("pre", { class: "json", tabindex: "0" }, pretty),
      );
    } catch (error) {
      replace(body, notice("warning", "The body could not be loaded.", error.message));
    }
  }

  replayButton?.addEventListener("click", replay);
  Promise.all([load(), loadBody()]).then(ready);
}
