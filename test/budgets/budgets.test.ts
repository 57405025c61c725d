import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { parseConfig } from "../../src/config/load.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

function config(redisUrl = ""): string {
  return `${SIM_CONFIG.replace("- { name: slow, tokens_per_second: 20, output: { kind: lorem, words: 20 } }", "- { name: slow, tokens_per_second: 20, output: { kind: lorem, words: 20 }, pricing: { input_per_mtok: 100000, output_per_mtok: 100000 } }").replace("- { name: fast, output: { kind: text, text: \"hello from fast\" } }", "- { name: fast, output: { kind: text, text: \"hello from fast\" }, pricing: { input_per_mtok: 100000, output_per_mtok: 100000 } }")}
${redisUrl ? `idempotency: { redis_url: "${redisUrl}" }` : ""}
keys:
  - { name: chatty, sha256: ${hash("k-chatty")}, requests_per_minute: 3 }
  - { name: thrifty, sha256: ${hash("k-thrifty")}, usd_per_day: 1.5 }
  - { name: racer, sha256: ${hash("k-racer")}, usd_per_day: 0.2 }
  - { name: once, sha256: ${hash("k-once")}, requests_per_minute: 1 }
`;
}

function suite(name: string, url: () => Promise<string | undefined>) {
  describe(`per-key budgets (${name})`, () => {
    let t: TestApp | undefined;
    let skip: string | undefined;
    let storeUrl: string | undefined;
    before(async () => {
      const u = (storeUrl = await url());
      if (u === undefined) skip = "redis-server is not available";
      else t = await startApp(config(u));
    });
    after(() => t?.close());

    test("requests per minute: the fourth request is a 429 with retry-after", async (ctx) => {
      if (!t) return ctx.skip(skip);
      const client = new OpenAI({ apiKey: "k-chatty", baseURL: `${t.url}/v1`, maxRetries: 0 });
      const ask = () => client.chat.completions.create({ model: "sim/echo", messages: [{ role: "user", content: "x" }] });
      for (let i = 0; i < 3; i++) await ask();
      const err = await ask().catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.code, "budget_exceeded");
      const wait = Number(err.headers?.get("retry-after"));
      assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
    });

    test("US dollars per day: once spent, calls are refused until midnight UTC (gRPC too)", async (ctx) => {
      if (!t) return ctx.skip(skip);
      const client = new OpenAI({ apiKey: "k-thrifty", baseURL: `${t.url}/v1`, maxRetries: 0 });
      // Each answer from sim/fast costs about 0.3 USD at this test's prices.
      let refused: unknown;
      for (let i = 0; i < 10 && !refused; i++) {
        await client.chat.completions.create({ model: "sim/fast", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => (refused = e));
      }
      assert.ok(refused instanceof OpenAI.RateLimitError, String(refused));
      assert.match(refused.message, /has spent its 1.5 USD for today/);
      const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k-thrifty" },
        body: JSON.stringify({ model: "sim/echo", messages: [{ role: "ROLE_USER", content: [{ text: "x" }] }] }),
      });
      assert.equal(res.status, 429);
      assert.equal(((await res.json()) as { code: string }).code, "resource_exhausted");
    });

    test("ten parallel requests, each of which would exhaust the budget: one is served, nine are refused", async (ctx) => {
      if (!t) return ctx.skip(skip);
      const ask = () =>
        fetch(`${t!.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer k-racer" },
          body: JSON.stringify({ model: "sim/slow", messages: [{ role: "user", content: "x" }] }),
        });
      const statuses = (await Promise.all(Array.from({ length: 10 }, ask))).map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 429, 429, 429, 429, 429, 429, 429, 429, 429]);
    });

    test("a reload keeps what was counted: a key at its limit stays refused", async (ctx) => {
      if (!t) return ctx.skip(skip);
      const client = new OpenAI({ apiKey: "k-once", baseURL: `${t.url}/v1`, maxRetries: 0 });
      const ask = () => client.chat.completions.create({ model: "sim/echo", messages: [{ role: "user", content: "x" }] });
      await ask();
      await assert.rejects(ask(), OpenAI.RateLimitError);
      t.app.reload(parseConfig(config(storeUrl), "reloaded.yaml"));
      await assert.rejects(ask(), OpenAI.RateLimitError, "the same config, reloaded, did not reset the count");
    });
  });
}

suite("memory", async () => "");
let redis: TestRedis | string | undefined;
suite("redis", async () => {
  redis = await startRedis();
  return typeof redis === "string" ? undefined : redis.url;
});
after(async () => {
  if (redis && typeof redis !== "string") await redis.stop();
});
