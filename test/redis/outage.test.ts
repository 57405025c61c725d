/**
 * Redis is the shared state of several replicas (idempotency records, key
 * budgets). When it goes away, no request may hang on it: a request with an
 * ID is refused at once with a retryable error naming the store and the fix,
 * budgets let requests through unmetered (logged once), an answer already
 * running is delivered whole, and everything applies again when it is back.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createLogger } from "../../src/telemetry/log.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { freePort, startRedis, type TestRedis } from "../helpers/redis.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

const config = (redisUrl: string) => `${SIM_CONFIG}
idempotency: { redis_url: "${redisUrl}" }
keys:
  - { name: free, sha256: ${hash("k-free")} }
  - { name: chatty, sha256: ${hash("k-chatty")}, requests_per_minute: 2 }
  - { name: metered, sha256: ${hash("k-metered")}, requests_per_minute: 1000 }
`;

/** Posts a chat completion; never waits more than 10 s (a hang fails the test, it does not stall it). */
async function chat(url: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer k-free", ...headers },
    body: JSON.stringify({ model: "sim/echo", messages: [{ role: "user", content: "hi" }], ...body }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** True when something answers on the port. */
function redisUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

/** An app whose log lines are kept. */
async function appWithLog(redisUrl: string): Promise<{ t: TestApp; lines: { level: number; msg: string }[] }> {
  const lines: { level: number; msg: string }[] = [];
  const dest = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }), cb()) });
  return { t: await startApp(config(redisUrl), { logger: createLogger("info", dest) }), lines };
}

describe("a Redis outage", () => {
  let redis: TestRedis | undefined;
  let port = 0;
  let skip: string | undefined;
  before(async () => {
    port = await freePort();
    const r = await startRedis(port);
    if (typeof r === "string") skip = r;
    else redis = r;
  });
  after(() => redis?.stop());

  test("an answer already streaming when Redis goes away is delivered whole; then IDs are refused at once, budgets let requests through, and both apply again when it is back", async (ctx) => {
    if (!redis) return ctx.skip(skip);
    const { t, lines } = await appWithLog(`redis://127.0.0.1:${port}`);
    try {
      // Streaming with an ID: the store records each event as it is relayed.
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k-free", "idempotency-key": "running-1" },
        body: JSON.stringify({ model: "slow", stream: true, messages: [{ role: "user", content: "hi" }] }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let sse = new TextDecoder().decode((await reader.read()).value);
      await redis.stop();
      for (let r = await reader.read(); !r.done; r = await reader.read()) sse += new TextDecoder().decode(r.value);
      const words = [...sse.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("").trim().split(/\s+/);
      assert.equal(words.length, 20, `the whole answer arrives: ${sse.slice(-300)}`);
      assert.match(sse, /data: \[DONE\]\n\n$/);
      assert.doesNotMatch(sse, /"error"/);

      // Redis is down now.
      const guarded = await chat(t.url, { "idempotency-key": "down-1" });
      assert.equal(guarded.status, 503, guarded.text);
      assert.equal(guarded.headers.get("retry-after"), "1");
      const err = (JSON.parse(guarded.text) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, "store_unavailable");
      assert.match(err.message, /idempotency store \(Redis at idempotency\.redis_url\) is unreachable/);
      assert.match(err.message, /request_id "down-1" cannot be kept from running twice: retry shortly, or send the request without an ID/);
      // A budget of 2 a minute, without its store, is not enforced.
      const chatty = { authorization: "Bearer k-chatty" };
      for (let i = 0; i < 3; i++) assert.equal((await chat(t.url, chatty)).status, 200, "a budgeted key is let through while its store is down");
      const outage = lines.filter((l) => /budgets: the budget store .* is unreachable .*; requests are let through unmetered/.test(l.msg));
      assert.equal(outage.length, 1, "the outage is logged once, not per request");
      assert.equal(outage[0]?.level, 40, "as a warning");

      // Redis is back (empty: it kept nothing).
      redis = (await startRedis(port)) as TestRedis;
      let back = await chat(t.url, { "idempotency-key": "back-1" });
      for (let i = 0; i < 100 && back.status === 503; i++) {
        await new Promise((r) => setTimeout(r, 50));
        back = await chat(t.url, { "idempotency-key": "back-1" });
      }
      assert.equal(back.status, 200, back.text);
      const again = await chat(t.url, { "idempotency-key": "back-1" });
      assert.equal(again.headers.get("x-detour-replayed"), "true", "IDs are guarded again");
      // The budget's store came back (empty; it is tried again once a second): the limit holds again.
      let over = await chat(t.url, chatty);
      for (let i = 0; i < 100 && over.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        over = await chat(t.url, chatty);
      }
      assert.equal(over.status, 429, over.text);
      assert.match(over.text, /key \\"chatty\\" is over its 2 requests per minute/);
      assert.ok(lines.some((l) => /budgets: the store is reachable again/.test(l.msg)));
    } finally {
      await t.close();
    }
  });

  test("a Redis that stops answering: a request with an ID fails after the command timeout, budgeted requests do not each wait for it, and shutdown does not either", async (ctx) => {
    if (!redis) return ctx.skip(skip);
    if (!(await redisUp(port))) redis = (await startRedis(port)) as TestRedis;
    const { t, lines } = await appWithLog(`redis://127.0.0.1:${port}`);
    const metered = { authorization: "Bearer k-metered" };
    try {
      assert.equal((await chat(t.url, metered)).status, 200, "connected");
      redis.pause();
      const guarded = await chat(t.url, { "idempotency-key": "frozen-1" });
      assert.equal(guarded.status, 503, guarded.text);
      assert.match(guarded.text, /is unreachable \(no answer within 1000 ms\)/);
      const started = performance.now();
      for (let i = 0; i < 5; i++) assert.equal((await chat(t.url, metered)).status, 200);
      const ms = performance.now() - started;
      // One of them waits for the store's timeout and finds it down; the others skip it.
      assert.ok(ms < 4000, `5 budgeted requests took ${ms.toFixed(0)} ms: each waited for the frozen store`);
      assert.equal(lines.filter((l) => /budgets: .* is unreachable/.test(l.msg)).length, 1);
      await t.close();
    } finally {
      redis.resume();
      await t.close();
    }
  });

  test("Redis unreachable from the start: requests without an ID are served, those with one are refused, and shutdown does not wait for it", async () => {
    const { t } = await appWithLog(`redis://127.0.0.1:${await freePort()}`);
    assert.equal((await chat(t.url)).status, 200);
    const guarded = await chat(t.url, { "idempotency-key": "never" });
    assert.equal(guarded.status, 503, guarded.text);
    assert.match(guarded.text, /"code":"store_unavailable"/);
    await t.close();
  });
});
