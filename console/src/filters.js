// The filter forms of the event and dead-letter lists: their fields, how
// they read from and write to the fragment, and the time range.

import { h } from "./dom.js";
import { localToUnix, unixToLocal } from "./format.js";

export const RANGES = [
  ["1h", "Last hour", 3600],
  ["24h", "Last 24 hours", 86400],
  ["7d", "Last 7 days", 7 * 86400],
  ["30d", "Last 30 days", 30 * 86400],
  ["custom", "Custom range", null],
];

/// `since`/`until` (Unix seconds) of the range the filters name: a preset
/// ends now (no `until`, so new events keep coming in).
export function timeRange(params, now = Date.now()) {
  const range = RANGES.find(([key]) => key === (params.range ?? "24h")) ?? RANGES[1];
  if (range[0] === "custom") {
    return {
      since: params.since ? Number(params.since) : undefined,
      until: params.until ? Number(params.until) : undefined,
    };
  }
  return { since: Math.floor(now / 1000) - range[2], until: undefined };
}

/// A labelled input.
export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

export function textInput(name, value, attrs = {}) {
  return h("input", { name, value: value ?? "", autocomplete: "off", spellcheck: "false", ...attrs });
}

export function select(name, value, options) {
  return h(
    "select",
    { name },
    options.map(([key, label]) => h("option", { value: key, selected: key === (value ?? "") }, label)),
  );
}

/// The range selector with its custom since/until inputs (shown for
/// "custom" only).
export function rangeFields(params) {
  const custom = h(
    "span",
    { class: "custom-range", hidden: (params.range ?? "24h") !== "custom" },
    field("From", h("input", { type: "datetime-local", name: "since", value: unixToLocal(params.since) })),
    field("To", h("input", { type: "datetime-local", name: "until", value: unixToLocal(params.until) })),
  );
  const range = select(
    "range",
    params.range ?? "24h",
    RANGES.map(([key, label]) => [key, label]),
  );
  range.addEventListener("change", () => {
    custom.hidden = range.value !== "custom";
  });
  return [field("Time", range), custom];
}

/// The form's values as fragment parameters (empty ones left out;
/// since/until as Unix seconds).
export function formParams(form) {
  const params = {};
  for (const [name, value] of new FormData(form)) {
    const text = String(value).trim();
    if (!text) continue;
    params[name] = name === "since" || name === "until" ? localToUnix(text) : text;
  }
  if (params.range !== "custom") {
    delete params.since;
    delete params.until;
  }
  return params;
}

/// `#/page?…` for these parameters.
export function hashOf(page, params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== "") search.set(name, String(value));
  const text = search.toString();
  return `#/${page}${text ? `?${text}` : ""}`;
}
