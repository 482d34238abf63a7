// One event: what happened in words, its deliveries to each destination
// as a timeline of attempts, replay, and the exact body.

import { badge, facts, h, notice, replace } from "../dom.js";
import { ago, bytes, duration, tone, when } from "../format.js";

/// After a replay, how long (and how often) the page looks for the new attempt.
const FOLLOW_MS = 20_000;
const FOLLOW_EVERY_MS = 1_000;

export function render(main, route, { call, ready }) {
  const id = route.id;
  const summary = h("section", { class: "card" });
  const deliveries = h("section", { class: "card", "aria-labelledby": "deliveries-title" });
  const body = h("section", { class: "card", "aria-labelledby": "body-title" });
  const replayStatus = h("p", { id: "replay-status", role: "status", "aria-live": "polite", class: "muted" });
  const replayButton = h("button", { type: "button", id: "replay" }, "Replay to every destination");
  replace(main,
    h("p", {}, h("a", { href: "#/events" }, "← Events")),
    summary,
    deliveries,
    body,
  );
  let timer;
  let followUntil = 0;
  let replayedAt = 0;

  async function load() {
    let event;
    try {
      event = await call(`/api/events/${encodeURIComponent(id)}`);
    } catch (error) {
      replace(summary, notice("bad", error.status === 404 ? "No such event." : "The event could not be loaded.", error.message));
      replace(deliveries);
      replace(body);
      return;
    }
    renderSummary(event);
    renderDeliveries(event);
    return event;
  }

  function renderSummary(event) {
    const d = event.description;
    const heading = h("h1", { id: "event-title" }, d ? d.headline : event.event_name);
    replace(summary,
      heading,
      d?.title ? h("p", { class: "title" }, d.title) : null,
      h("p", {},
        badge(event.outcome, tone(event.outcome)), " ",
        d ? badge(d.status ?? event.event_name, tone(d.tone)) : null, " ",
        d?.url ? h("a", { href: d.url, target: "_blank", rel: "noopener noreferrer" }, `${d.label} in Qase ↗`) : null),
      d?.summary ? h("blockquote", {}, d.summary) : null,
      event.reason ? notice("warning", "Quarantined", event.reason) : null,
      facts([
        ["Event", event.event_name],
        ["Project", event.project_code],
        ["Received", `${when(event.received_at)} (${ago(event.received_at)})`],
        ["Team member", event.team_member_id],
        ["Run", event.run_id], ["Case", event.case_id], ["Defect", event.defect_id],
        ["Plan", event.plan_id], ["Milestone", event.milestone_id],
        ...(d?.facts ?? []).map((fact) => [fact.label, fact.value]),
        ["Copies received", event.duplicates ? `${event.duplicates + 1} (the same bytes; delivered once)` : null],
        ["Size", bytes(event.size)],
        ["Id", h("code", {}, event.id)],
      ]),
    );
  }

  function renderDeliveries(event) {
    const list = event.deliveries ?? [];
    const items = list.map((delivery) => h(
      "li",
      { class: "delivery", "data-destination": delivery.destination },
      h("div", { class: "delivery-head" },
        h("strong", {}, delivery.destination), " ",
        badge(delivery.status, tone(delivery.status)), " ",
        h("span", { class: "muted" }, `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}, ${ago(delivery.updated_at)}`),
        delivery.status === "dead" ? h("button", { type: "button", class: "quiet", onclick: () => replayDead(delivery.destination) }, "Replay this dead letter") : null),
      delivery.reason ? h("p", {}, "Given up: ", delivery.reason) : null,
      timeline(delivery),
    ));
    const forwarding = {
      none: "This event was not routed to any destination (QASE_ROUTES or no destination matches it).",
      pending: "Waiting for the delivery queue; the sweep sends it again if the queue lost it.",
      queued: list.length ? null : "The delivery consumer has it; no attempt is recorded yet.",
    }[event.forward];
    replace(deliveries,
      h("div", { class: "section-head" }, h("h2", { id: "deliveries-title" }, "Deliveries"), replayButton),
      replayStatus,
      forwarding ? h("p", { class: "muted" }, forwarding) : null,
      items.length ? h("ul", { class: "deliveries" }, items) : null,
    );
  }

  /// The attempts, oldest first; a row per attempt when the Worker records
  /// them, else the delivery's last state.
  function timeline(delivery) {
    const attempts = delivery.attempts_log ?? delivery.history ?? (Array.isArray(delivery.attempts) ? delivery.attempts : null);
    if (!attempts) {
      return h("ol", { class: "timeline" }, h("li", { class: tone(delivery.status) },
        h("span", { class: "when" }, when(delivery.updated_at)), " ",
        `Attempt ${delivery.attempts}: `,
        delivery.last_status ? `HTTP ${delivery.last_status}` : delivery.status,
        delivery.status !== "delivered" && delivery.last_error ? h("span", { class: "error-text" }, ` — ${delivery.last_error}`) : null));
    }
    return h("ol", { class: "timeline" }, attempts.map((attempt, i) => h(
      "li",
      { class: tone(attempt.result ?? attempt.outcome) },
      h("span", { class: "when" }, when(attempt.at)), " ",
      `Attempt ${attempt.attempt ?? i + 1}: `,
      attempt.status ? `HTTP ${attempt.status}` : (attempt.result ?? attempt.outcome ?? ""),
      attempt.latency_ms !== undefined && attempt.latency_ms !== null ? h("span", { class: "muted" }, ` in ${duration(attempt.latency_ms)}`) : null,
      attempt.error ? h("span", { class: "error-text" }, ` — ${attempt.error}`) : null,
      attempt.next_retry_at ? h("span", { class: "muted" }, ` · next try ${when(attempt.next_retry_at)}`) : null,
    )));
  }

  async function replay() {
    replayButton.disabled = true;
    try {
      const answer = await call(`/api/events/${encodeURIComponent(id)}/replay`, { method: "POST", body: {} });
      replace(replayStatus, `Queued for ${answer.destinations?.length ?? 0} destination(s): ${(answer.destinations ?? []).join(", ")}. Watching for the new attempt…`);
      follow();
    } catch (error) {
      replace(replayStatus, notice("bad", "Not replayed.", error.message));
    } finally {
      replayButton.disabled = false;
    }
  }

  async function replayDead(destination) {
    try {
      await call(`/api/dead-letters/${encodeURIComponent(id)}/replay`, { method: "POST", query: { destination } });
      replace(replayStatus, `The dead letter for ${destination} is queued again. Watching for the new attempt…`);
      follow();
    } catch (error) {
      replace(replayStatus, notice("bad", "Not replayed.", error.message));
    }
  }

  function follow() {
    replayedAt = Date.now();
    followUntil = replayedAt + FOLLOW_MS;
    clearInterval(timer);
    timer = setInterval(async () => {
      const event = await load();
      const moved = event?.deliveries?.some((d) => d.updated_at >= replayedAt);
      if (moved || Date.now() > followUntil) {
        clearInterval(timer);
        replace(replayStatus, moved ? "New attempt recorded below." : "No new attempt yet: the queue may be retrying; reload later.");
      }
    }, FOLLOW_EVERY_MS);
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
      replace(body,
        h("div", { class: "section-head" }, h("h2", { id: "body-title" }, "Body"),
          h("a", { class: "button quiet", href: `#/events/${encodeURIComponent(id)}`, onclick: (e) => { e.preventDefault(); navigator.clipboard?.writeText(text); } }, "Copy exact bytes")),
        h("p", { class: "muted" }, "Pretty-printed; the exact bytes are at /api/events/{id}/body and are what destinations receive."),
        h("pre", { class: "json", tabindex: "0" }, pretty));
    } catch (error) {
      replace(body, notice("warning", "The body could not be loaded.", error.message));
    }
  }

  replayButton.addEventListener("click", replay);
  Promise.all([load(), loadBody()]).then(ready);
  return () => clearInterval(timer);
}
