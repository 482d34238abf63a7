// What the signed-in caller may do, so that the console shows only the
// actions their role can take. The console's copy of the server's table
// (`engine::api::auth::need`): the server decides and refuses (403) on its
// own, this only keeps a viewer from seeing buttons that cannot work.

/// Each console action: the least role, and whether it reaches across
/// projects (then a project-scoped caller may not take it either).
const NEEDS = {
  // Replay an event, a dead letter, or all that match (bulk replay).
  replay: { role: "operator", unscoped: false },
  // Pause and resume a destination.
  pause: { role: "operator", unscoped: true },
  // The Destinations page (GET /api/destinations).
  destinations: { role: "viewer", unscoped: true },
  // The Audit page (GET /api/audit).
  audit: { role: "operator", unscoped: true },
};

const RANK = { viewer: 1, operator: 2 };

/// Whether `me` (`GET /api/me`'s answer) may take `action` (a key of NEEDS).
export function can(me, action) {
  const need = NEEDS[action];
  if (!need) throw new Error(`no such action: ${action}`);
  if (!me || (RANK[me.role] ?? 0) < RANK[need.role]) return false;
  return !(need.unscoped && Array.isArray(me.projects));
}

/// How the header names the caller: `ana@example.com · operator`, with the
/// projects of a scoped credential.
export function describe(me) {
  const scope = Array.isArray(me.projects) ? ` (${me.projects.join(", ") || "no project"})` : "";
  return { name: me.name, role: `${me.role}${scope}` };
}

/// Whether the caller came through Cloudflare Access (then the console
/// holds no token, and signing out is Access's).
export function viaAccess(me) {
  return me.credential === "access_user" || me.credential === "access_service";
}
