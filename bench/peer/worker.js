// The JavaScript peer: what a careful user would write by hand to receive
// Qase webhooks in a Worker. Constant-time secret check, JSON.parse, type
// checks of the envelope, and the same writes as qase-edge by default (one D1
// upsert that also says whether the bytes were stored before, then the queue
// message; none when SINKS is "none"). It does not validate payloads by
// event, and its only answer to a failed write is 503.
const encoder = new TextEncoder();

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

async function digest(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function secretMatches(presented, secret) {
  // Compare digests so that neither content nor length leaks.
  return crypto.subtle.timingSafeEqual(await digest(presented ?? ""), await digest(secret));
}

const isInt = (v) => Number.isSafeInteger(v) && v >= 0;
const isName = (v) => typeof v === "string" && v.trim().length > 0 && v.length <= 128;

export default {
  async fetch(request, env) {
    if (request.method !== "POST") return json(405, { error: "method_not_allowed" });
    if (!(await secretMatches(request.headers.get("x-qase-secret"), env.QASE_WEBHOOK_SECRET))) {
      return json(401, { error: "unauthorized" });
    }
    const text = await request.text();
    let envelope;
    try {
      envelope = JSON.parse(text);
    } catch (error) {
      return json(400, { error: "invalid_json", message: String(error) });
    }
    if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
      return json(422, { error: "invalid_envelope" });
    }
    const { event_name, timestamp, payload, team_member_id, project_code } = envelope;
    if (!isName(event_name)) return json(422, { error: "invalid_envelope", field: "event_name" });
    if (!isInt(timestamp)) return json(422, { error: "invalid_envelope", field: "timestamp" });
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      return json(422, { error: "invalid_envelope", field: "payload" });
    }
    if (!isInt(team_member_id)) return json(422, { error: "invalid_envelope", field: "team_member_id" });
    if (!isName(project_code)) return json(422, { error: "invalid_envelope", field: "project_code" });

    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
    const id = "evt_" + [...hash.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (env.SINKS !== "none") {
      const received_at = Date.now();
      const [entity, action = ""] = event_name.split(/\.(.*)/s);
      const run_id = entity === "run" && isInt(payload.id) ? payload.id : null;
      try {
        const row = await env.QASE_DB.prepare(
          "INSERT INTO events (id, event_name, entity, action, project_code, team_member_id, received_at, " +
            "outcome, run_id, forward, size, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'accepted', ?8, 'pending', ?9, ?10) " +
            "ON CONFLICT (id) DO UPDATE SET duplicates = duplicates + 1 RETURNING duplicates",
        )
          .bind(id, event_name, entity, action, project_code, team_member_id, received_at, run_id, text.length, text)
          .first();
        if (row.duplicates > 0) {
          return json(200, { id, event_name, project_code, status: "duplicate", duplicate: true });
        }
        await env.QASE_DELIVERIES.send({ id, event_name, project_code, received_at, body: text });
      } catch {
        return json(503, { error: "storage_unavailable" });
      }
    }
    return json(202, { id, event_name, project_code, status: "accepted", duplicate: false });
  },
};
