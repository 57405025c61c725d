// Formatting for the dashboard, and a tiny DOM builder that only ever sets
// text (never HTML), so nothing the gateway returns can become markup.

/** Creates an element: h("td", { class: "num" }, "12", otherNode). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Proto JSON numbers: uint64 arrive as strings, zero values are omitted. */
export const num = (v) => (v === undefined || v === null || v === "" ? 0 : Number(v));

/** A proto JSON Duration ("1.250s") in milliseconds. */
export function durationMs(d) {
  if (!d) return 0;
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(d);
  return m ? Number(m[1]) * 1000 : 0;
}

/** A proto JSON Timestamp in milliseconds since the epoch, or undefined. */
export const timeMs = (t) => (t ? Date.parse(t) : undefined);

const count = new Intl.NumberFormat("en-US");

/** 1234 → "1,234". */
export const formatCount = (n) => count.format(num(n));

/** Milliseconds, readable: "<1 ms", "85 ms", "1.25 s", "2m 05s". */
export function formatMs(ms) {
  if (!(ms > 0)) return "–";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

/** A configured span, such as a breaker's window: "10 s", "1 min", "1m 30s". */
export function formatSpan(ms) {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms < 60_000 && ms % 1000 === 0) return `${ms / 1000} s`;
  return formatMs(ms);
}

/** US dollars, with `digits` significant digits for fractions of a cent. */
export function formatUsd(v, digits = 3) {
  const n = num(v);
  if (n === 0) return "$0";
  if (n >= 1) return `$${n.toFixed(2)}`;
  if (n >= 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toPrecision(digits)}`;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

/** A time of day, "14:03:22". */
export const formatClock = (ms) => (ms === undefined ? "–" : clock.format(ms));

/** "in 4m 12s" / "now". */
export function formatIn(ms, now = Date.now()) {
  const d = ms - now;
  if (d <= 500) return "now";
  return `in ${formatMs(d)}`;
}

/** "sim/steady" for a TargetRef; "sim (whole provider)" for a provider-wide breaker. */
export function targetName(ref) {
  if (!ref) return "–";
  return ref.model ? `${ref.provider}/${ref.model}` : `${ref.provider} (whole provider)`;
}

/** A colour-blind-safe palette (Okabe–Ito), darkened where needed for contrast on white. */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8C6D00", "#56B4E9", "#333333", "#E69F00"];

/** A stable colour per target name, in the order targets are first seen. */
export function createColours() {
  const assigned = new Map();
  return (name) => {
    if (!assigned.has(name)) assigned.set(name, PALETTE[assigned.size % PALETTE.length]);
    return assigned.get(name);
  };
}
