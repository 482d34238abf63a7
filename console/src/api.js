// The operator API, as the console calls it. The token lives in
// sessionStorage: typed in once per browser session, sent only as an
// `Authorization: Bearer` header to this origin, never put in a URL, a
// log line or the page.

const TOKEN_KEY = "qase-edge.operator-token";

/// An answer other than 2xx, with the API's stable error code.
export class ApiFailure extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/// The API answered that the token is wrong (401): the console signs out.
export class TokenRefused extends ApiFailure {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/// Whether this Worker has the operator API on: `GET /api/openapi.json`
/// needs no token and is `404` exactly when no token is configured.
export async function apiEnabled() {
  const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
  if (response.status === 404) return false;
  if (response.ok) return true;
  throw await failure(response);
}

/// The Worker's health (no token needed).
export async function health() {
  const response = await fetch("/health", { headers: { Accept: "application/json" } });
  // 503 (misconfigured) carries the same JSON document.
  return response.json();
}

/// Calls the API: `query` is an object of parameters (empty ones left out),
/// `body` is sent as JSON. Answers the parsed JSON (or the text, for
/// `raw: true`).
export async function call(path, { method = "GET", query, body, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${token() ?? ""}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await failure(response);
  return raw ? response.text() : response.json();
}

async function failure(response) {
  let error = {};
  try {
    error = await response.json();
  } catch {
    // Not our JSON (a proxy in between): the status says enough.
  }
  const message = error.message ?? `HTTP ${response.status}`;
  const Kind = response.status === 401 ? TokenRefused : ApiFailure;
  return new Kind(response.status, error.error ?? "http_error", message, error.field);
}
