// How times, sizes and states read on the page.

const absolute = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/// Unix milliseconds as a local date and time.
export function when(ms) {
  return ms === null || ms === undefined ? "" : absolute.format(new Date(ms));
}

/// Unix milliseconds as "12 s ago", "5 min ago", "3 h ago", "2 d ago".
export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "";
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 0) return `in ${duration(-seconds * 1000)}`;
  if (seconds < 5) return "just now";
  return `${duration(seconds * 1000)} ago`;
}

/// Milliseconds as the largest whole unit: "850 ms", "12 s", "5 min", "3 h", "2 d".
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/// Bytes as "512 B", "12.3 KB", "1.9 MB".
export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} KB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

/// A percentage with one decimal, or "–" when there is nothing to divide.
export function percent(part, whole) {
  return whole ? `${((100 * part) / whole).toFixed(1)} %` : "–";
}

/// The badge colour of a delivery state or an outcome.
export function tone(state) {
  switch (state) {
    case "delivered":
    case "accepted":
    case "active":
    case "ok":
    case "good":
      return "good";
    case "dead":
    case "quarantined":
    case "paused":
    case "bad":
    case "misconfigured":
    case "no_secret_configured":
      return "bad";
    case "retrying":
    case "probing":
    case "draining":
    case "pending":
    case "warning":
    case "degraded":
      return "warning";
    default:
      return "neutral";
  }
}

/// A `datetime-local` input's value (local time) as Unix seconds, or undefined.
export function localToUnix(value) {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/// Unix seconds as a `datetime-local` value (local time).
export function unixToLocal(seconds) {
  if (seconds === undefined || seconds === null || seconds === "") return "";
  const date = new Date(Number(seconds) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
