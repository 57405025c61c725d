// Live time charts with uPlot (loaded before this module as a plain script,
// from the copy shipped in node_modules). A chart is a figure whose text
// alternative sums up every line, since a canvas says nothing to a screen
// reader; the same figures are in the tables.

import { formatClock, h } from "./format.js";

const HEIGHT = 220;
const AXIS = { stroke: "#3b4350", grid: { stroke: "#e3e7ed", width: 1 }, ticks: { stroke: "#c9d0da", width: 1 }, font: "12px system-ui, sans-serif" };

/**
 * A chart of counts per step. `update(xsSeconds, lines)` redraws it; lines
 * are { label, colour, values, dash }. The plot is rebuilt only when the set
 * of lines changes, otherwise its data is replaced in place.
 */
export function createTimeChart(figure, describe) {
  const holder = figure.querySelector(".plot");
  const empty = h("p", { class: "empty" }, "No attempts in this period yet.");
  holder.after(empty);
  let plot = null;
  let signature = "";

  const width = () => Math.max(240, holder.clientWidth);
  new ResizeObserver(() => plot?.setSize({ width: width(), height: HEIGHT })).observe(holder);

  function build(lines, data) {
    plot?.destroy();
    const opts = {
      width: width(),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(2, Math.ceil(max * 1.15))] } },
      axes: [
        { ...AXIS, space: 80, values: (_u, ticks) => ticks.map((t) => formatClock(t * 1000)) },
        { ...AXIS, size: 44, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000], values: (_u, ticks) => ticks.map((t) => String(t)) },
      ],
      series: [
        { label: "Time", value: (_u, v) => (v === null || v === undefined ? "–" : formatClock(v * 1000)) },
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.colour,
          width: 2,
          dash: l.dash ? [6, 4] : undefined,
          fill: l.dash ? undefined : `${l.colour}1a`,
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? "–" : String(v)),
        })),
      ],
    };
    plot = new globalThis.uPlot(opts, data, holder);
  }

  return {
    update(xs, lines) {
      const visible = lines.filter((l) => l.values.some((v) => v > 0));
      holder.hidden = visible.length === 0;
      empty.hidden = visible.length > 0;
      const label = describe(visible);
      figure.querySelector(".plot-summary").textContent = label;
      if (visible.length === 0) return;
      const data = [xs, ...visible.map((l) => l.values)];
      const sig = visible.map((l) => `${l.label}|${l.colour}|${l.dash ? 1 : 0}`).join(",");
      if (sig !== signature || !plot) {
        signature = sig;
        build(visible, data);
      } else {
        plot.setData(data);
      }
    },
  };
}
