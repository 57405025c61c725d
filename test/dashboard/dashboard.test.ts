/**
 * The dashboard in a real browser (Debian's chromium through playwright-core):
 * it opens while a scripted load with faults runs, and must show the same
 * fallbacks, saves and opened breaker that the load's own attempts trails
 * report. Skips, saying why, only when the browser cannot start.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { chromium, type Browser, type Page } from "playwright-core";
import { FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { createProviders } from "../../src/providers/registry.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { scriptedProvider } from "../helpers/scripted-provider.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const RESULTS = new URL("../../test-results/", import.meta.url);
const ADMIN = "dtr-ops-admin-5c1e";
const APP = "dtr-app-9a7b";
const PROMPT = "prompt-canary-do-not-show-3f9e";
const sha = (key: string) => createHash("sha256").update(key).digest("hex");

/** The little of the page's DOM the checks below touch (tests are type-checked without lib.dom). */
interface PageElement {
  readonly id: string;
  readonly className: string;
  readonly tagName: string;
  readonly textContent: string | null;
  readonly value?: string;
  readonly dataset: Record<string, string | undefined>;
  readonly parentElement: PageElement | null;
  closest(selector: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { right: number };
  blur(): void;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  readonly activeElement: PageElement | null;
  readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number };
};

// sim/broken always fails, so its breaker opens after 3 calls; lab/flaky (a
// scripted provider, below) is rate limited on every 6th call from the 3rd
// and drops its answer after billing tokens on every 6th; sim/steady answers.
const CONFIG = `
server: { drain_timeout: 2s, dashboard: true }
breaker: { window: 60s, volume_threshold: 3, error_threshold_percent: 50, reset_timeout: 10m }
keys:
  - { name: app, sha256: ${sha(APP)} }
  - { name: ops, sha256: ${sha(ADMIN)}, admin: true }
providers:
  - name: sim
    simulated:
      models:
        - { name: broken, ttft: 5ms, faults: [{ kind: unavailable, rate: 1 }] }
        - name: steady
          ttft: 25ms
          tokens_per_second: 400
          output: { kind: lorem, words: 12 }
          pricing: { input_per_mtok: 0.15, output_per_mtok: 0.6, as_of: simulated }
  # Replaced by the scripted provider below.
  - { name: lab, simulated: { models: [{ name: flaky }] } }
routes:
  - name: main
    description: A broken primary, a flaky second and a steady last resort.
    targets: [{ model: sim/broken }, { model: lab/flaky }, { model: sim/steady }]
  - name: quiet
    targets: [{ model: sim/steady }]
`;

/** lab/flaky: call 3, 9, 15… is rate limited; call 6, 12, 18… bills 1,200 + 40 tokens, then drops. */
function flakyProvider() {
  let calls = 0;
  return scriptedProvider(
    "lab",
    async function* () {
      const n = ++calls;
      await delay(15); // an upstream's time to first token
      if (n % 3 === 0 && n % 6 !== 0) throw new GatewayError("RATE_LIMITED", "upstream said 429", { upstreamStatus: 429, retryAfterMs: 1000 });
      yield { type: "text", text: "The flaky model " };
      yield { type: "usage", usage: create(UsageSchema, { inputTokens: 1200, outputTokens: 40, totalTokens: 1240 }) };
      await delay(10);
      if (n % 6 === 0) throw new GatewayError("STREAM_DROPPED", "the upstream closed the stream before it finished", { upstreamStatus: 200 });
      yield { type: "text", text: "answered." };
      yield { type: "finish", reason: FinishReason.STOP };
    },
    ["flaky"],
  );
}

/** One hop as the load saw it in the response. */
interface Hop {
  target: string;
  outcome: string;
  reason: string;
  decision: string;
}

interface Seen {
  hops: Hop[];
  servedBy: string;
  id: string;
  wastedUsd: number;
}

const enumName = (v: string) => v.replace(/^(ATTEMPT_OUTCOME|DECISION)_/, "").toLowerCase();

/** The `detour` field: the same Done JSON in a unary answer and in a stream's last chunk. */
interface DetourField {
  id: string;
  cost?: { wastedUsd?: number };
  servedBy: { provider: string; model: string };
  attempts: { target: { provider: string; model: string }; outcome: string; reason?: string; decision: string }[];
}

/** Sends one chat completion (unary or streaming) and reads the attempts trail the gateway reports. */
async function send(url: string, stream: boolean): Promise<Seen> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${APP}` },
    body: JSON.stringify({ model: "main", stream, messages: [{ role: "user", content: `${PROMPT} tell me something` }] }),
  });
  assert.equal(res.status, 200);
  let done: DetourField | undefined;
  if (!stream) done = ((await res.json()) as { detour: DetourField }).detour;
  else {
    const frames = (await res.text()).split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)) as { detour?: DetourField });
    done = frames.find((f) => f.detour)?.detour;
  }
  assert.ok(done, "the answer carries the detour field");
  const hops = done.attempts.map((a) => ({ target: `${a.target.provider}/${a.target.model}`, outcome: enumName(a.outcome), reason: a.reason ?? "", decision: enumName(a.decision) }));
  return { hops, servedBy: `${done.servedBy.provider}/${done.servedBy.model}`, id: done.id, wastedUsd: done.cost?.wastedUsd ?? 0 };
}

/** What the dashboard must show, worked out from the trails alone. */
function expected(seen: Seen[]) {
  const saved = new Map<string, number>();
  const fallbacks = new Map<string, number>();
  for (const s of seen) {
    if (s.hops[0]?.target !== s.servedBy) saved.set(s.servedBy, (saved.get(s.servedBy) ?? 0) + 1);
    s.hops.forEach((h, i) => {
      const next = s.hops[i + 1];
      if (h.decision === "fallback" && next) {
        const key = `${h.target}>${next.target}>${h.reason}`;
        fallbacks.set(key, (fallbacks.get(key) ?? 0) + 1);
      }
    });
  }
  const savedTotal = [...saved.values()].reduce((a, b) => a + b, 0);
  const fallbackTotal = [...fallbacks.values()].reduce((a, b) => a + b, 0);
  const wastedUsd = seen.reduce((n, s) => n + s.wastedUsd, 0);
  return { requests: seen.length, saved, savedTotal, fallbacks, fallbackTotal, wastedUsd };
}

async function launch(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (.ci/run installs Debian's chromium)`;
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  } catch (e) {
    return `chromium did not start: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
  }
}

const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

/** Waits until the page shows `want` in `selector`: the page refreshes on its own. */
async function until(page: Page, selector: string, want: string): Promise<void> {
  await page
    .waitForFunction(([s, w]) => document.querySelector(s)?.textContent?.trim() === w, [selector, want] as const, { timeout: 15_000, polling: 100 })
    .catch(async () => assert.fail(`${selector}: wanted ${JSON.stringify(want)}, the page shows ${JSON.stringify(await page.locator(selector).first().textContent().catch(() => null))}`));
}

test("the dashboard shows fallbacks, saves and an opened breaker while a load with faults runs", async (t) => {
  const browser = await launch();
  if (typeof browser === "string") {
    t.skip(browser);
    return;
  }
  let app: TestApp | undefined;
  try {
    const providers = new Map(createProviders(parseConfig(CONFIG, "dashboard.yaml")));
    providers.set("lab", flakyProvider());
    app = await startApp(CONFIG, { providers });
    const url = app.url;
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      // The refused reads before the admin key is given are expected; nothing else is.
      if ((m.type() === "error" || m.type() === "warning") && !/status of 40[13] /.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith(url)) problems.push(`fetched from elsewhere: ${r.url()}`);
    });

    // Keys are configured: the page asks for an admin key before it shows anything.
    await page.goto(`${url}/dashboard`);
    const keyField = page.getByLabel("Admin key");
    await keyField.waitFor();
    assert.equal(await page.locator("#board").isHidden(), true);
    await keyField.fill(APP);
    await keyField.press("Enter");
    await page.getByText("That key may not read the admin API").waitFor();
    await keyField.fill(ADMIN);
    await keyField.press("Enter");
    await page.locator("#board").waitFor();
    assert.deepEqual(await page.locator("#route option").evaluateAll((os) => os.map((o) => (o as unknown as PageElement).value)), ["main", "quiet"]);
    await page.getByLabel("Refresh").selectOption("1000");
    await until(page, '[data-metric="requests"] dd', "0");

    // Phase one: enough calls for broken's breaker to open. The page, refreshing
    // on its own, must show it open while the load goes on.
    const seen: Seen[] = [];
    for (let i = 0; i < 6; i++) seen.push(await send(url, i % 2 === 1));
    assert.ok(seen.slice(3).every((s) => s.hops[0]?.reason === "BREAKER_OPEN"), "broken's breaker opened after three failures");
    await until(page, '#breakers tr[data-target="sim/broken"] [data-field="state"]', "Open");
    await until(page, '[data-metric="requests"] dd', "6");
    assert.match(await text(page, '#breakers tr[data-target="sim/broken"] [data-field="next"]'), /^Probes at \d\d:\d\d:\d\d \(in (9m|10m)/);
    assert.equal(await text(page, '#breakers tr[data-target="sim/broken"] [data-field="window"]'), "3 failed of 3");

    // Phase two: more load, half of it streamed.
    for (let i = 0; i < 14; i++) seen.push(await send(url, i % 2 === 0));
    const want = expected(seen);
    // The script's faults, as the load saw them.
    assert.deepEqual(Object.fromEntries(want.saved), { "lab/flaky": 14, "sim/steady": 6 });
    assert.deepEqual(Object.fromEntries(want.fallbacks), {
      "sim/broken>lab/flaky>UPSTREAM_UNAVAILABLE": 3,
      "sim/broken>lab/flaky>BREAKER_OPEN": 17,
      "lab/flaky>sim/steady>RATE_LIMITED": 3,
      "lab/flaky>sim/steady>STREAM_DROPPED": 3,
    });
    assert.ok(Math.abs(want.wastedUsd - 3 * 0.00128) < 1e-12, `three dropped answers of 1,200 + 40 tokens were wasted: ${want.wastedUsd}`);
    await until(page, '[data-metric="requests"] dd', String(want.requests));

    // The figures match what the load saw, hop by hop.
    assert.equal(await text(page, '[data-metric="saved"] dd'), String(want.savedTotal));
    assert.equal(await text(page, '[data-metric="fallbacks"] dd'), String(want.fallbackTotal));
    assert.equal(await text(page, '[data-metric="failed"] dd'), "0");
    assert.equal(await text(page, '#saved [data-metric="saved-total"] strong'), String(want.savedTotal));
    const savedTable = page.getByRole("table", { name: "Requests saved by each model" });
    const savedRows = await savedTable.locator("tbody tr").evaluateAll((rows) =>
      rows.map((row): [string, string] => {
        const r = row as unknown as PageElement;
        return [r.dataset["target"] ?? "", r.querySelector('[data-field="saved"]')?.textContent ?? ""];
      }),
    );
    assert.deepEqual(new Map(savedRows), new Map([...want.saved].map(([k, v]) => [k, String(v)])));

    const fallbackTable = page.getByRole("table", { name: "Fallbacks by from, to and reason" });
    const fallbackRows = await fallbackTable.locator("tbody tr").evaluateAll((rows) =>
      rows.map((row): [string, string] => {
        const r = row as unknown as PageElement;
        const d = r.dataset;
        return [`${d["from"]}>${d["to"]}>${d["reason"]}`, r.querySelector('[data-field="count"]')?.textContent ?? ""];
      }),
    );
    assert.deepEqual(new Map(fallbackRows), new Map([...want.fallbacks].map(([k, v]) => [k, String(v)])));

    // Every breaker the page shows has the state the admin API reports.
    const api = (await (
      await fetch(`${url}/detour.v1.AdminService/ListBreakers`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` }, body: "{}" })
    ).json()) as { breakers: { target: { provider: string; model?: string }; state: string }[] };
    for (const b of api.breakers.filter((x) => x.target.model)) {
      const name = `${b.target.provider}/${b.target.model}`;
      const state = { BREAKER_STATE_OPEN: "Open", BREAKER_STATE_HALF_OPEN: "Half-open", BREAKER_STATE_CLOSED: "Closed" }[b.state];
      assert.equal(await text(page, `#breakers tr[data-target="${name}"] [data-field="state"]`), state, name);
    }

    // The newest request's trail is the last one the load saw.
    const last = seen.at(-1)!;
    const newest = page.locator("#recent tbody tr").first();
    assert.equal(await newest.getAttribute("data-id"), last.id);
    const trail = await newest.locator(".hop .mono").allInnerTexts();
    assert.deepEqual(trail, last.hops.map((h) => h.target));
    assert.equal(await page.locator("#recent tbody tr").count(), Math.min(25, seen.length));

    // Cost wasted on failed hops: the route's total and lab/flaky's share of it.
    assert.equal(await text(page, '[data-metric="wasted"] dd'), "$0.0038");
    assert.equal(await text(page, '#targets tr[data-target="lab/flaky"] [data-field="wasted"]'), "$0.00384");
    assert.equal(await text(page, '#targets tr[data-target="sim/steady"] [data-field="wasted"]'), "$0");
    assert.equal(await text(page, '#targets tr[data-target="lab/flaky"] [data-field="skipped"]'), "0");
    assert.equal(await text(page, '#targets tr[data-target="sim/broken"] [data-field="skipped"]'), "17");

    // Nothing secret on the page, nothing fetched from elsewhere, no CSP violations.
    const html = await page.content();
    assert.ok(!html.includes(PROMPT), "no prompt text on the page");
    assert.ok(!html.includes(ADMIN) && !html.includes(APP), "no keys on the page");
    assert.deepEqual(problems, []);

    // The key lasts for the tab's session: a reload goes straight to the figures. Then the
    // keyboard: a skip link first, then the controls, all reachable with Tab.
    await page.reload();
    await until(page, '[data-metric="requests"] dd', String(want.requests));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press("Tab");
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim() || ""));
    }
    assert.deepEqual(order, ["Skip to the figures", "route", "refresh", "forget-key"]);

    // Another route shows its own (empty) figures; the chosen route is kept in the URL.
    await page.getByLabel("Route").selectOption("quiet");
    await until(page, '[data-metric="requests"] dd', "0");
    await page.getByText("No requests on this route yet.").waitFor();
    assert.match(page.url(), /#route=quiet$/);
    await page.getByLabel("Route").selectOption("main");
    await until(page, '[data-metric="requests"] dd', String(want.requests));

    await page.evaluate(() => document.activeElement?.blur());
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: new URL("dashboard.png", RESULTS).pathname, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await until(page, '[data-metric="requests"] dd', String(want.requests));
    // The charts take the new width in their ResizeObserver's callback, a frame or so after the
    // viewport changes: let the layout settle (at most 5 s) before measuring it.
    await page
      .waitForFunction(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth, undefined, { timeout: 5_000 })
      .catch(() => undefined);
    const { overflow, wide } = await page.evaluate(() => {
      const w = document.documentElement.clientWidth;
      const out = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > w + 1 && !e.parentElement?.closest(".scroll"));
      return { overflow: document.documentElement.scrollWidth - w, wide: out.map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${String(e.className)}`) };
    });
    assert.equal(overflow, 0, `the page fits a phone's width; wide tables scroll inside their cards (too wide: ${wide.join(", ")})`);
    await page.screenshot({ path: new URL("dashboard-phone.png", RESULTS).pathname, fullPage: true });
  } finally {
    await browser.close();
    await app?.close();
  }
});
