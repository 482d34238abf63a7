// Building the page. Every string, and above all every string from Qase,
// becomes a text node: nothing here parses HTML (no innerHTML anywhere in
// the console), so a test case titled `<img src=x onerror=alert(1)>` shows
// up as those characters. The Content-Security-Policy the Worker sends is
// the second line of defence.

const SVG = "http://www.w3.org/2000/svg";

/// An element: `attrs` sets attributes (`on…` functions become listeners,
/// `false`/`null`/`undefined` values are left out); children are nodes,
/// strings (as text), numbers, arrays of those, or nothing.
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/// The same in the SVG namespace (the charts).
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in element) {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

/// Replaces everything in `element` with `children`.
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/// A labelled badge; `kind` picks its colour (good, bad, warning, neutral).
export function badge(text, kind = "neutral") {
  return h("span", { class: `badge ${kind}` }, text);
}

/// A definition list from [label, value] pairs; empty values are skipped.
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
  );
}

/// A message block for errors and empty states.
export function notice(kind, title, ...body) {
  return h(
    "div",
    { class: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" },
    h("strong", {}, title),
    body.length ? h("div", {}, body) : null,
  );
}

/// A list table that scrolls sideways on a narrow screen: `columns` are
/// its headings, each a text or `{ label, wide }` (`wide`: hidden on narrow
/// screens, as the cells of its column are), and `body` its <tbody>.
export function listTable(columns, body) {
  const heading = (column) => {
    const { label, wide = false } = typeof column === "string" ? { label: column } : column;
    return h("th", { scope: "col", class: wide && "wide" }, label);
  };
  return h(
    "div",
    { class: "scroll" },
    h("table", { class: "list" }, h("thead", {}, h("tr", {}, columns.map(heading))), body),
  );
}
