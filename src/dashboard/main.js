// The dashboard's loop: read the AdminService, pick the route, render every
// panel, wait, repeat. Pauses while the tab is hidden or when the operator
// picks "paused"; asks for an admin key when the gateway wants one.

import { adminKey, ApiError, call } from "./api.js";
import { createTimeChart } from "./charts.js";
import { createColours, durationMs, formatClock, formatCount, formatSpan, num, targetName, timeMs } from "./format.js";
import { renderBreakers, renderFallbacks, renderRecent, renderSaved, renderSummary, renderTargets } from "./panels.js";

const $ = (id) => document.getElementById(id);
const RECENT = 25;
/** Steps the charts show: 5 minutes of 5-second steps. */
const CHART_STEPS = 60;

const colourOf = createColours();
const el = {
  route: $("route"),
  refresh: $("refresh"),
  forget: $("forget-key"),
  status: $("status"),
  alert: $("alert"),
  board: $("board"),
  keyForm: $("key-form"),
  key: $("key"),
  keyError: $("key-error"),
  description: $("route-description"),
};

const chartSummary = (verb) => (lines) =>
  lines.length === 0
    ? `No attempts ${verb} in the last 5 minutes.`
    : `In the last 5 minutes: ${lines.map((l) => `${l.label} ${formatCount(l.values.reduce((a, b) => a + b, 0))}`).join(", ")}.`;
const charts = {
  served: createTimeChart($("chart-served"), chartSummary("answered")),
  failed: createTimeChart($("chart-failed"), chartSummary("failed or were skipped")),
};

let selected = new URLSearchParams(location.hash.slice(1)).get("route") ?? "";
let timer = undefined;
let inFlight = false;

function showAlert(text) {
  el.alert.textContent = text;
  el.alert.hidden = !text;
}

function askForKey(message) {
  el.board.hidden = true;
  el.keyForm.hidden = false;
  el.keyError.textContent = message;
  el.forget.hidden = true;
  el.status.textContent = "Waiting for an admin key.";
  el.key.focus();
}

/** Configured routes first, then anything with traffic that is not one (direct provider/model calls). */
function routeOptions(routes, stats) {
  const names = routes.map((r) => r.summary?.name ?? "");
  for (const r of stats.routes ?? []) if (!names.includes(r.route)) names.push(r.route);
  return names.filter(Boolean);
}

function syncRouteSelect(names) {
  const current = [...el.route.options].map((o) => o.value);
  if (current.join("\n") !== names.join("\n")) {
    el.route.replaceChildren(...names.map((n) => new Option(n.includes("/") ? `${n} (direct calls)` : n, n)));
  }
  if (!names.includes(selected)) selected = names[0] ?? "";
  el.route.value = selected;
  el.route.disabled = names.length === 0;
}

function updateCharts(stats, routeStats, order) {
  const stepMs = durationMs(stats.seriesStep) || 5000;
  const startMs = timeMs(stats.seriesStart) ?? Date.now();
  const series = [...(routeStats.series ?? [])].sort((a, b) => order.indexOf(targetName(a.target)) - order.indexOf(targetName(b.target)));
  const total = series[0]?.served?.length ?? 0;
  const from = Math.max(0, total - CHART_STEPS);
  const xs = [];
  for (let i = from; i < Math.max(total, from + 1); i++) xs.push((startMs + i * stepMs) / 1000);
  const values = (arr) => (arr ?? []).slice(from).map(Number);
  charts.served.update(xs, series.map((s) => ({ label: targetName(s.target), colour: colourOf(targetName(s.target)), values: values(s.served) })));
  charts.failed.update(
    xs,
    series.flatMap((s) => {
      const name = targetName(s.target);
      return [
        { label: `${name} failed`, colour: colourOf(name), values: values(s.failed) },
        { label: `${name} skipped`, colour: colourOf(name), values: values(s.skipped), dash: true },
      ];
    }),
  );
}

function render(routes, breakers, stats, recent) {
  const route = routes.find((r) => r.summary?.name === selected);
  const empty = { route: selected, targets: [], fallbacks: [], series: [] };
  const routeStats = (stats.routes ?? []).find((r) => r.route === selected) ?? empty;
  const order = (route?.summary?.targets ?? []).map((t) => targetName(t));
  // Colours follow the chain's order, so the primary is always the first colour.
  order.forEach((n) => colourOf(n));
  const chain = `Chain: ${order.join(" → ")}`;
  el.description.textContent = route ? [route.summary?.description, chain].filter(Boolean).join(" · ") : "Direct calls to one model.";
  $("window").textContent = formatSpan(durationMs(stats.window));
  renderSummary($("summary"), routeStats);
  updateCharts(stats, routeStats, order);
  renderSaved($("saved"), routeStats, colourOf);
  renderFallbacks($("fallbacks"), routeStats, colourOf);
  renderBreakers($("breakers"), route, breakers, colourOf);
  renderTargets($("targets"), routeStats, order, colourOf);
  renderRecent($("recent"), recent, colourOf);
}

async function refresh() {
  clearTimeout(timer);
  if (inFlight) return;
  inFlight = true;
  try {
    const [routes, breakers, stats] = await Promise.all([call("ListRoutes"), call("ListBreakers"), call("GetStats")]);
    syncRouteSelect(routeOptions(routes.routes ?? [], stats));
    const recent = selected ? await call("ListRecentRequests", { route: selected, limit: RECENT }) : {};
    render(routes.routes ?? [], breakers.breakers ?? [], stats, recent.requests ?? []);
    el.keyForm.hidden = true;
    el.board.hidden = false;
    el.forget.hidden = !adminKey.get();
    showAlert("");
    const every = num(el.refresh.value);
    el.status.textContent = `Updated ${formatClock(Date.now())}${every ? ` · refreshing every ${every / 1000} s` : " · paused"}`;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const had = adminKey.get();
      adminKey.clear();
      askForKey(had ? "That key is not valid for this gateway." : "");
    } else if (e instanceof ApiError && e.status === 403) {
      adminKey.clear();
      askForKey("That key may not read the admin API: use a key with admin: true.");
    } else {
      showAlert(`Could not read the gateway's statistics: ${e instanceof Error ? e.message : String(e)}. Retrying.`);
    }
  } finally {
    inFlight = false;
    schedule();
  }
}

function schedule() {
  clearTimeout(timer);
  const every = num(el.refresh.value);
  if (every > 0 && !document.hidden && el.keyForm.hidden) timer = setTimeout(refresh, every);
}

el.route.addEventListener("change", () => {
  selected = el.route.value;
  history.replaceState(null, "", `#route=${encodeURIComponent(selected)}`);
  void refresh();
});
el.refresh.addEventListener("change", () => void refresh());
document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : void refresh()));
el.keyForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = el.key.value.trim();
  el.key.value = "";
  if (!key) return;
  adminKey.set(key);
  el.keyForm.hidden = true;
  void refresh().then(() => {
    if (!el.board.hidden) $("main").focus();
  });
});
el.forget.addEventListener("click", () => {
  adminKey.clear();
  askForKey("");
});

void refresh();
