// The runtime's ceiling: read the body, answer 200. Nothing else.
export default {
  async fetch(request) {
    await request.arrayBuffer();
    return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
  },
};
