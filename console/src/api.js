// The operator API, as the console calls it, and who is signed in.
//
// Two ways in. Behind Cloudflare Access, Access signs the user in and adds
// `Cf-Access-Jwt-Assertion` to every request it lets through (its
// `CF_Authorization` cookie goes with every same-origin fetch): the console
// sends no token at all, and `GET /api/me` says who the user is. Without
// Access, the user types a token (QASE_ADMIN_TOKEN or one of
// QASE_API_TOKENS) once per browser session: it lives in sessionStorage and
// is sent only as an `Authorization: Bearer` header to this origin, never
// put in a URL, a log line or the page.

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

/// The API answered that the token is wrong (401 `unauthorized`): the
/// console signs out.
export class TokenRefused extends ApiFailure {}

/// Cloudflare Access refused the request (401 `access_denied`: its
/// assertion expired or is missing): only signing in through Access again
/// helps.
export class AccessRefused extends ApiFailure {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/// The headers of a call: the bearer token only when one was typed in
/// (behind Access the browser's own cookie and Access's header suffice).
function headers() {
  const stored = token();
  return stored === null
    ? { Accept: "application/json" }
    : { Accept: "application/json", Authorization: `Bearer ${stored}` };
}

/// What `GET /api/me` says about this browser, as one of:
/// - `{ kind: "signed_in", me }`: `me` is `{name, credential, role, projects}`;
/// - `{ kind: "api_off" }`: no credential is configured (every /api path is 404);
/// - `{ kind: "needs_token", refused }`: no Access identity; `refused` when
///   the stored token was sent and refused;
/// - `{ kind: "no_role", message }`: Access signed the user in, but no rule
///   of QASE_ACCESS_ROLES gives them a role (a token still can);
/// - `{ kind: "access_denied", message }`: Access is on, its assertion is not good.
/// Anything else (503 misconfigured, a proxy's page) is thrown as an ApiFailure.
export async function whoAmI() {
  const sent = token() !== null;
  const response = await fetch("/api/me", { headers: headers() });
  if (response.ok) return { kind: "signed_in", me: await response.json() };
  if (response.status === 404) return { kind: "api_off" };
  const error = await failure(response);
  if (error instanceof TokenRefused) return { kind: "needs_token", refused: sent };
  if (error instanceof AccessRefused) return { kind: "access_denied", message: error.message };
  if (error.status === 403) return { kind: "no_role", message: error.message };
  throw error;
}

/// Who is signed in, learnt once per page load (main.js keeps the answer):
/// with the stored token if there is one, and if that token is refused,
/// forgotten and asked again without it (Access may still sign the user in).
export async function session() {
  const answer = await whoAmI();
  if (answer.kind === "needs_token" && answer.refused) {
    forgetToken();
    return { ...(await whoAmI()), refused: true };
  }
  return answer;
}

/// The Worker's health (no token needed).
export async function health(signal) {
  const response = await fetch("/health", { headers: { Accept: "application/json" }, signal });
  // 503 (misconfigured) carries the same JSON document.
  return response.json();
}

/// Calls the API: `query` is an object of parameters (empty ones left out),
/// `body` is sent as JSON, `signal` aborts it. Answers the parsed JSON (or
/// the text, for `raw: true`).
export async function call(path, { method = "GET", query, body, raw = false, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
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
  const code = error.error ?? "http_error";
  let Kind = ApiFailure;
  if (response.status === 401) Kind = code === "access_denied" ? AccessRefused : TokenRefused;
  return new Kind(response.status, code, message, error.field);
}
