// The dashboard's panels: each one replaces the children of its container
// with a table built from the AdminService's JSON. Tables have captions and
// header cells, and every row names its target, so the figures read the same
// with a screen reader; rows carry data-target / data-field for scripts.

import { durationMs, formatClock, formatCount, formatIn, formatMs, formatSpan, formatUsd, h, num, targetName, timeMs } from "./format.js";

function table(caption, headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", class: t.num ? "num" : undefined }, t.label ?? t)))),
    h("tbody", {}, rows),
  );
}

function swatch(colour) {
  const s = h("span", { class: "swatch", "aria-hidden": "true" });
  s.style.backgroundColor = colour;
  return s;
}

const cell = (field, value, className = "num") => h("td", { class: className, dataset: { field } }, value);
const rowHead = (name, colour) => h("th", { scope: "row" }, colour ? swatch(colour) : null, h("span", { class: "mono" }, name));

/** Summary tiles for the route. */
export function renderSummary(el, stats) {
  const c = stats.cost ?? {};
  const tiles = [
    ["requests", "Requests", formatCount(stats.requests)],
    ["succeeded", "Answered", formatCount(stats.succeeded)],
    ["failed", "Failed", formatCount(stats.failed)],
    ["saved", "Saved by fallback", formatCount(stats.savedByFallback)],
    ["fallbacks", "Fallbacks", formatCount(stats.fallbackCount)],
    // Two digits fit a tile; the targets table has three.
    ["cost", "Cost of answers", formatUsd(c.answerUsd, 2)],
    ["wasted", "Wasted on failed hops", formatUsd(c.wastedUsd, 2)],
  ];
  el.replaceChildren(
    ...tiles.map(([key, label, value]) =>
      h("div", { class: `tile tile-${key}`, dataset: { metric: key } }, h("dt", {}, label), h("dd", {}, value)),
    ),
  );
}

/** Who saved requests: per target, with its share of all saves. */
export function renderSaved(el, stats, colourOf) {
  const total = num(stats.savedByFallback);
  const savers = (stats.targets ?? []).filter((t) => num(t.saved) > 0).sort((a, b) => num(b.saved) - num(a.saved));
  const rows = savers.map((t) => {
    const name = targetName(t.target);
    const pct = total > 0 ? Math.round((num(t.saved) / total) * 100) : 0;
    const fill = h("span", { class: "bar-fill" });
    fill.style.width = `${pct}%`;
    fill.style.backgroundColor = colourOf(name);
    return h(
      "tr",
      { dataset: { target: name } },
      rowHead(name, colourOf(name)),
      cell("saved", formatCount(t.saved)),
      h("td", { class: "bar-cell", dataset: { field: "share" } }, h("span", { class: "bar", "aria-hidden": "true" }, fill), h("span", { class: "bar-label" }, `${pct}%`)),
    );
  });
  el.replaceChildren(
    h("p", { class: "big", dataset: { metric: "saved-total" } }, h("strong", {}, formatCount(total)), total === 1 ? " request saved" : " requests saved"),
    h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Saved by model" }, table("Requests saved by each model", ["Model", { label: "Saved", num: true }, "Share"], rows, "No request has needed a fallback yet.")),
  );
}

/** Fallbacks from → to with their reasons, and failed attempts by reason. */
export function renderFallbacks(el, stats, colourOf) {
  const fallbacks = [...(stats.fallbacks ?? [])].sort((a, b) => num(b.count) - num(a.count));
  const rows = fallbacks.map((f) => {
    const from = targetName(f.from);
    const to = targetName(f.to);
    return h(
      "tr",
      { dataset: { from, to, reason: f.reason ?? "" } },
      rowHead(from, colourOf(from)),
      h("td", {}, swatch(colourOf(to)), h("span", { class: "mono" }, to)),
      h("td", {}, h("span", { class: "reason" }, f.reason ?? "")),
      cell("count", formatCount(f.count)),
    );
  });
  const reasons = Object.entries(stats.failuresByReason ?? {}).sort((a, b) => num(b[1]) - num(a[1]));
  el.replaceChildren(
    table("Fallbacks by from, to and reason", ["From", "To", "Why", { label: "Count", num: true }], rows, "No fallbacks in this window."),
    reasons.length
      ? h(
          "div",
          { class: "reasons" },
          h("h3", {}, "Attempts that did not answer, by reason"),
          h("ul", { class: "chips" }, reasons.map(([r, n]) => h("li", { dataset: { reason: r } }, h("span", { class: "reason" }, r), ` ${formatCount(n)}`))),
        )
      : null,
  );
}

const STATE = {
  BREAKER_STATE_OPEN: ["open", "Open"],
  BREAKER_STATE_HALF_OPEN: ["half-open", "Half-open"],
  BREAKER_STATE_CLOSED: ["closed", "Closed"],
};

function breakerNext(b, now) {
  const window = formatSpan(durationMs(b.window));
  if (b.disabled) return "Breakers are turned off in the config.";
  if (b.state === "BREAKER_STATE_OPEN") {
    const probe = timeMs(b.nextProbeTime);
    return probe ? `Probes at ${formatClock(probe)} (${formatIn(probe, now)})` : "Probes after its reset timeout";
  }
  if (b.state === "BREAKER_STATE_HALF_OPEN") return "Probing: the next call decides whether it closes";
  return `Opens when ≥ ${num(b.errorThresholdPercent)}% of ≥ ${num(b.volumeThreshold)} calls in ${window} fail`;
}

/** Breaker state of each of the route's targets, then of their providers. */
export function renderBreakers(el, route, breakers, colourOf, now = Date.now()) {
  const byName = new Map(breakers.map((b) => [targetName(b.target), b]));
  const names = [...new Set((route?.summary?.targets ?? []).map((t) => targetName(t)))];
  for (const p of new Set((route?.summary?.targets ?? []).map((t) => t.provider))) {
    const wide = targetName({ provider: p, model: "" });
    if (byName.has(wide)) names.push(wide);
  }
  const rows = names.map((name) => {
    const b = byName.get(name);
    const [cls, label] = b ? (STATE[b.state] ?? STATE.BREAKER_STATE_CLOSED) : STATE.BREAKER_STATE_CLOSED;
    const opened = b && timeMs(b.lastOpenTime);
    return h(
      "tr",
      { dataset: { target: name, state: cls } },
      rowHead(name, name.includes("/") ? colourOf(name) : null),
      h("td", { dataset: { field: "state" } }, h("span", { class: `badge state-${cls}` }, label)),
      // A call is counted when admitted and its failure when it ends, possibly in a later bucket of the
      // rolling window; every failure was a call, so never show fewer calls than failures.
      cell("window", b ? `${formatCount(b.windowFailures)} failed of ${formatCount(Math.max(num(b.windowCalls), num(b.windowFailures)))}` : "no calls yet", "num"),
      h("td", { dataset: { field: "next" } }, b ? breakerNext(b, now) : "Closed until its target is called"),
      h("td", { dataset: { field: "opened" } }, opened ? formatClock(opened) : "never"),
    );
  });
  el.replaceChildren(
    table("Circuit breakers of this route's targets", ["Breaker", "State", { label: "In window", num: true }, "Next", "Last opened"], rows, "This route has no targets."),
  );
}

/** Per-target figures: answers, failures, latency, TTFT, tokens and cost. */
export function renderTargets(el, stats, order, colourOf) {
  const rank = (t) => {
    const i = order.indexOf(targetName(t.target));
    return i < 0 ? order.length : i;
  };
  const targets = [...(stats.targets ?? [])].sort((a, b) => rank(a) - rank(b));
  const pair = (a, b) => `${formatMs(durationMs(a))} / ${formatMs(durationMs(b))}`;
  const rows = targets.map((t) => {
    const name = targetName(t.target);
    const u = t.usage ?? {};
    return h(
      "tr",
      { dataset: { target: name } },
      rowHead(name, colourOf(name)),
      cell("served", formatCount(t.served)),
      cell("saved", formatCount(t.saved)),
      cell("failed", formatCount(t.failed)),
      cell("skipped", formatCount(t.skipped)),
      cell("latency", pair(t.latencyP50, t.latencyP95)),
      cell("ttft", pair(t.ttftP50, t.ttftP95)),
      cell("tokens", `${formatCount(u.inputTokens)} / ${formatCount(u.outputTokens)}`),
      cell("cost", formatUsd(t.costUsd)),
      cell("wasted", formatUsd(t.wastedUsd)),
    );
  });
  const headers = ["Target", "Answered", "Saved", "Failed", "Skipped", "Latency p50 / p95", "TTFT p50 / p95", "Tokens in / out", "Cost", "Wasted"].map((label, i) =>
    i === 0 ? label : { label, num: true },
  );
  el.replaceChildren(table("Figures per target", headers, rows, "No attempts in this window."));
}

const OUTCOME = {
  ATTEMPT_OUTCOME_SUCCEEDED: ["ok", "✓", "answered"],
  ATTEMPT_OUTCOME_FAILED: ["failed", "✕", "failed"],
  ATTEMPT_OUTCOME_SKIPPED: ["skipped", "↷", "skipped"],
  ATTEMPT_OUTCOME_CANCELLED: ["cancelled", "⊘", "cancelled"],
};

function trail(attempts, colourOf) {
  return h(
    "ol",
    { class: "trail" },
    attempts.map((a) => {
      const name = targetName(a.target);
      const [cls, icon, word] = OUTCOME[a.outcome] ?? ["failed", "?", "unknown"];
      const detail = a.reason
        ? `${a.reason}${a.upstreamStatus ? ` ${a.upstreamStatus}` : ""}`
        : formatMs(durationMs(a.latency));
      return h(
        "li",
        { class: `hop hop-${cls}` },
        swatch(colourOf(name)),
        h("span", { class: "mono" }, name),
        h("span", { class: "hop-icon", "aria-hidden": "true" }, icon),
        h("span", { class: "visually-hidden" }, `${word}:`),
        h("span", { class: "hop-detail" }, detail),
      );
    }),
  );
}

/** The last requests with their attempts trails. */
export function renderRecent(el, recent, colourOf) {
  const rows = recent.map((r) => {
    const ok = r.outcome === "ok";
    const badge = ok
      ? r.savedByFallback
        ? h("span", { class: "badge saved" }, "Saved")
        : h("span", { class: "badge ok" }, "Answered")
      : h("span", { class: "badge failed" }, r.outcome);
    const served = r.servedBy ? targetName(r.servedBy) : "–";
    const c = r.cost ?? {};
    return h(
      "tr",
      { dataset: { id: r.id, outcome: ok ? (r.savedByFallback ? "saved" : "ok") : "failed" } },
      h("td", { class: "nowrap" }, formatClock(timeMs(r.endTime)), h("div", { class: "id mono muted" }, r.id)),
      h("td", { dataset: { field: "outcome" } }, badge, r.streaming ? h("span", { class: "tag" }, "stream") : null),
      h("td", { class: "nowrap", dataset: { field: "served-by" } }, r.servedBy ? swatch(colourOf(served)) : null, h("span", { class: "mono" }, served)),
      h("td", { dataset: { field: "attempts" } }, trail(r.attempts ?? [], colourOf)),
      cell("latency", formatMs(durationMs(r.latency))),
      cell("cost", `${formatUsd(c.totalUsd)}${num(c.wastedUsd) > 0 ? ` (${formatUsd(c.wastedUsd)} wasted)` : ""}`),
    );
  });
  el.replaceChildren(
    table("Recent requests with their attempts", ["Ended", "Outcome", "Served by", "Attempts", { label: "Latency", num: true }, { label: "Cost", num: true }], rows, "No requests on this route yet."),
  );
}
