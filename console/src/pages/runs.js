// Test runs, as qase-edge assembled them from their events: a project's
// runs, most recent first, and one run with its counts and what failed.

import { badge, facts, h, listTable, notice, replace } from "../dom.js";
import { ago, duration, tone, when } from "../format.js";
import { field, hashOf, textInput } from "../filters.js";

const PROJECT_KEY = "qase-edge.runs-project";

/// The badge colour of a run: by its status, and red when it ended with
/// failures.
function runTone(run) {
  if (run.status === "aborted") return "warning";
  if (run.status !== "completed") return "neutral";
  return run.counts && (run.counts.failed || run.counts.blocked) ? "bad" : "good";
}

function counts(run) {
  const c = run.counts;
  if (!c) return run.done ? "" : `${run.results?.created ?? 0} results so far`;
  return `${c.passed} passed, ${c.failed} failed, ${c.blocked} blocked of ${c.cases}`;
}

export function render(main, route, { call, go, ready }) {
  if (route.project && route.id) return renderRun(main, route, { call, ready });
  const params = route.params;
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Choose a project",
      onsubmit: (e) => {
        e.preventDefault();
        const project = new FormData(form).get("project").trim();
        if (project) sessionStorage.setItem(PROJECT_KEY, project);
        go(hashOf("runs", { project }));
      },
    },
    field("Project", textInput("project", params.project, { placeholder: "code, e.g. WEB", size: 10, required: true })),
    h("button", { type: "submit" }, "Show runs"),
  );
  const list = h("div");
  replace(main, h("h1", {}, "Runs"), form, list);

  async function load() {
    let project = params.project ?? sessionStorage.getItem(PROJECT_KEY);
    if (!project) {
      // The project of the newest event: where a new user's runs are.
      const newest = await call("/api/events", { query: { limit: 1 } }).catch(() => null);
      project = newest?.events?.[0]?.project_code;
    }
    if (!project) {
      replace(
        list,
        h(
          "p",
          { class: "muted" },
          "No event has arrived yet, so there is no run to show. Choose a project above once Qase has sent some.",
        ),
      );
      return;
    }
    form.elements.project.value = project;
    try {
      const page = await call("/api/runs", { query: { project, limit: 50 } });
      if (!page.runs.length) {
        replace(
          list,
          h(
            "p",
            { class: "muted" },
            `No run of ${project} yet: runs appear here from their run.* and result.* events.`,
          ),
        );
        return;
      }
      replace(
        list,
        listTable(
          ["Run", "Status", "Results", { label: "Pass rate", wide: true }, { label: "Last event", wide: true }],
          h(
            "tbody",
            {},
            page.runs.map((run) =>
              h(
                "tr",
                { "data-run": run.run },
                h(
                  "td",
                  {},
                  h("a", { href: `#/runs/${encodeURIComponent(run.project)}/${run.run}` }, `#${run.run}`),
                  run.title ? h("div", {}, run.title) : null,
                ),
                h("td", {}, badge(run.status, runTone(run))),
                h("td", {}, counts(run)),
                h(
                  "td",
                  { class: "wide" },
                  run.pass_rate === null || run.pass_rate === undefined ? "" : `${run.pass_rate} %`,
                ),
                h(
                  "td",
                  { class: "wide", title: when(run.last_event_at * 1000) },
                  run.last_event_at ? ago(run.last_event_at * 1000) : "",
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      replace(list, notice("bad", "The runs could not be loaded.", error.message));
    }
  }

  load().then(ready);
}

function renderRun(main, route, { call, ready }) {
  const section = h("section", { class: "card" });
  replace(main, h("p", {}, h("a", { href: `#/runs?project=${encodeURIComponent(route.project)}` }, "← Runs")), section);

  async function load() {
    let run;
    try {
      run = await call(`/api/runs/${encodeURIComponent(route.project)}/${encodeURIComponent(route.id)}`);
    } catch (error) {
      replace(
        section,
        notice("bad", error.status === 404 ? "No such run." : "The run could not be loaded.", error.message),
      );
      return;
    }
    const failures = run.failures;
    replace(
      section,
      h("h1", { id: "run-title" }, `Run #${run.run}`, run.title ? ` · ${run.title}` : ""),
      h(
        "p",
        {},
        badge(run.status, runTone(run)),
        " ",
        counts(run),
        " ",
        h("a", { href: run.url, target: "_blank", rel: "noopener noreferrer" }, "Open in Qase ↗"),
      ),
      facts([
        ["Project", run.project],
        ["Pass rate", run.pass_rate === null || run.pass_rate === undefined ? null : `${run.pass_rate} %`],
        ["Duration", run.duration_ms ? duration(run.duration_ms) : null],
        ["Environment", run.environment],
        ["Plan", run.plan_id],
        ["Started by (team member)", run.started_by],
        ["First event", run.first_event_at ? when(run.first_event_at * 1000) : null],
        ["Last event", run.last_event_at ? when(run.last_event_at * 1000) : null],
        ["Run events", run.run_events],
        [
          "Results received",
          run.results
            ? `${run.results.created} created, ${run.results.updated} updated, ${run.results.deleted} deleted`
            : null,
        ],
        [
          "Report",
          run.report_sent
            ? "sent"
            : run.done
              ? "not sent (no destination asks for reports, or it is settling)"
              : "after the run ends",
        ],
        [
          "End from",
          run.source === "reconciled"
            ? "Qase's REST API (reconciled: its webhook never came)"
            : run.source === "webhook"
              ? run.reconciled
                ? "its webhook, after a reconcile pass"
                : "its webhook"
              : null,
        ],
      ]),
      h("h2", {}, "What failed"),
      failureList(run, failures),
      h(
        "p",
        {},
        h(
          "a",
          { href: `#/events?project=${encodeURIComponent(run.project)}&run=${run.run}&range=30d` },
          "This run's events →",
        ),
      ),
    );
  }

  load().then(ready);
}

function failureList(run, failures) {
  if (!run.done) return h("p", { class: "muted" }, "The run has not ended yet.");
  if (!failures || failures.source === "none") {
    return h(
      "p",
      { class: "muted" },
      run.counts && !run.counts.failed && !run.counts.blocked
        ? "Nothing failed."
        : "Failed cases are listed when QASE_API_TOKEN is set (they are fetched from Qase's API once the run ends); the counts are above.",
    );
  }
  if (!failures.items.length) return h("p", { class: "muted" }, "Nothing failed.");
  return h(
    "div",
    {},
    h(
      "ul",
      { class: "failures" },
      failures.items.map((item) =>
        h(
          "li",
          {},
          badge(item.status, tone(item.status === "failed" ? "bad" : "warning")),
          " ",
          h(
            "a",
            { href: item.url, target: "_blank", rel: "noopener noreferrer" },
            item.title ?? `Case ${item.case_id}`,
          ),
        ),
      ),
    ),
    failures.more ? h("p", { class: "muted" }, `and ${failures.more} more`) : null,
  );
}
