// Events per hour, stacked by entity (run, case, defect, ...), as SVG
// built node by node. `stats` is `GET /api/stats`' answer.

import { h, svg } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 160;
const PAD = { top: 8, right: 8, bottom: 22, left: 36 };
/// One colour per entity, in order of their names (the same entity keeps
/// its colour from one range to the next as long as the set is the same).
const COLOURS = 8;

export function hourlyChart(stats) {
  const entities = Object.keys(stats.by_entity_hour ?? {}).sort();
  const hours = stats.hours ?? [];
  const totals = stats.by_hour ?? [];
  const max = Math.max(1, ...totals);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const step = hours.length ? plotWidth / hours.length : plotWidth;
  const barWidth = Math.max(1, step * 0.8);
  const y = (count) => (count / max) * plotHeight;

  const bars = [];
  hours.forEach((hour, i) => {
    let base = 0;
    const x = PAD.left + i * step + (step - barWidth) / 2;
    const label = new Date(hour * 1000).toLocaleString(undefined, {
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
    entities.forEach((entity, e) => {
      const count = stats.by_entity_hour[entity][i] ?? 0;
      if (!count) return;
      const height = y(count);
      bars.push(
        svg(
          "rect",
          {
            class: `series-${e % COLOURS}`,
            x: x.toFixed(2),
            y: (PAD.top + plotHeight - base - height).toFixed(2),
            width: barWidth.toFixed(2),
            height: Math.max(height, 0.5).toFixed(2),
          },
          svg("title", {}, `${label}: ${count} ${entity} event${count === 1 ? "" : "s"}`),
        ),
      );
      base += height;
    });
  });

  const axisLabel = (seconds) =>
    new Date(seconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit" });
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `Events per hour by entity: ${stats.totals?.events ?? 0} in the range`,
      class: "chart",
    },
    svg("line", {
      class: "axis",
      x1: PAD.left,
      y1: PAD.top + plotHeight,
      x2: WIDTH - PAD.right,
      y2: PAD.top + plotHeight,
    }),
    svg("text", { class: "tick", x: PAD.left - 6, y: PAD.top + 8, "text-anchor": "end" }, String(max)),
    svg("text", { class: "tick", x: PAD.left - 6, y: PAD.top + plotHeight, "text-anchor": "end" }, "0"),
    hours.length ? svg("text", { class: "tick", x: PAD.left, y: HEIGHT - 6 }, axisLabel(hours[0])) : null,
    hours.length > 1
      ? svg(
          "text",
          { class: "tick", x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" },
          axisLabel(hours[hours.length - 1]),
        )
      : null,
    bars,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    entities.map((entity, e) => {
      const sum = stats.by_entity_hour[entity].reduce((a, b) => a + b, 0);
      return h(
        "li",
        {},
        h("span", { class: `swatch series-${e % COLOURS}`, "aria-hidden": "true" }),
        `${entity} `,
        h("strong", {}, String(sum)),
      );
    }),
  );
  return h(
    "figure",
    { class: "hourly" },
    chart,
    entities.length ? legend : h("figcaption", { class: "muted" }, "No events in this range."),
  );
}
