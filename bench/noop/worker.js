// The runtime's ceiling: read the body, answer 200. Nothing else.
// With LOG_LINE set it also writes one log line shaped like qase-edge's
// per-delivery line, which prices the runtime's console.log on its own.
export default {
  async fetch(request, env) {
    await request.arrayBuffer();
    if (env.LOG_LINE) {
      console.log(
        JSON.stringify({
          event: "delivery",
          id: "evt_00000000000000000000000000000000",
          event_name: "run.completed",
          project_code: "DEMO",
          outcome: "ignored",
          status: 202,
          duration_ms: 0,
        }),
      );
    }
    return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
  },
};
