// The audit log (operators): every state-changing call of the API, newest
// first, a page at a time: who, through what, with which role, what on
// what, and what it was answered.

import { badge, h, listTable, notice, replace } from "../dom.js";
import { ago, when } from "../format.js";

const PAGE = 50;

function statusTone(status) {
  if (status >= 200 && status < 300) return "good";
  return status === 403 ? "warning" : "bad";
}

function row(entry) {
  return h(
    "tr",
    { "data-audit": entry.id },
    h("td", { title: when(entry.at) }, ago(entry.at)),
    h("td", {}, entry.actor, h("div", { class: "muted" }, `${entry.credential.replace("_", " ")}, ${entry.role}`)),
    h("td", {}, entry.action.replaceAll("_", " ")),
    h("td", { class: "wide" }, h("code", {}, entry.target)),
    h("td", {}, badge(String(entry.status), statusTone(entry.status))),
  );
}

export function render(main, _route, { call, ready }) {
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Older entries");
  const list = listTable(["When", "Who", "Action", { label: "Target", wide: true }, "Answer"], body);
  const problem = h("div");
  replace(main, h("h1", {}, "Audit log"), problem, list, more);
  let cursor = null;

  async function load() {
    try {
      const page = await call("/api/audit", { query: cursor ? { limit: PAGE, cursor } : { limit: PAGE } });
      body.append(...page.entries.map(row));
      if (!body.children.length) replace(problem, h("p", { class: "muted" }, "No state-changing call yet."));
      cursor = page.cursor;
      more.hidden = !cursor;
    } catch (error) {
      replace(problem, notice("bad", "The audit log could not be loaded.", error.message));
    }
  }
  more.addEventListener("click", () => load());
  load().then(ready);
}
