/**
 * What the OpenAI SDKs read to decide on a retry of their own. They retry
 * 408, 409, 429 and 5xx unless the answer says `x-should-retry: false`, and
 * wait as `retry-after` says (openai-node src/client.ts, shouldRetry and
 * retryRequest). An answer Detour gives after it already retried and fell
 * back must not start a second round; an open breaker says when it probes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startApp, type TestApp } from "../helpers/app.js";

const CONFIG = `
server: { drain_timeout: 2s }
breaker: { volume_threshold: 1, error_threshold_percent: 1, reset_timeout: 30s }
providers:
  - name: sim
    simulated:
      models:
        - { name: down, faults: [{ kind: unavailable, rate: 1 }] }
        - { name: ok, output: { kind: text, text: "fine" } }
routes:
  - name: down
    targets: [{ model: sim/down }]
`;

describe("retry headers on the OpenAI-compatible API", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(CONFIG);
  });
  after(() => t.close());
  const post = (model: string, body: Record<string, unknown> = {}) =>
    fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }], ...body }) });

  test("a failure after the chain ran says x-should-retry: false; a caller's bad request does not need to", async () => {
    const failed = await post("down");
    assert.equal(failed.status, 503);
    assert.equal(failed.headers.get("x-should-retry"), "false");
    const bad = await post("down", { temperature: "hot" });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("x-should-retry"), null);
  });

  test("the SDK makes one request, not its default three, for an answer Detour already retried", async () => {
    let calls = 0;
    const client = new OpenAI({
      apiKey: "x",
      baseURL: `${t.url}/v1`,
      maxRetries: 2,
      fetch: (url, init) => {
        calls++;
        return fetch(url, init);
      },
    });
    await assert.rejects(client.chat.completions.create({ model: "down", messages: [{ role: "user", content: "x" }] }), OpenAI.APIError);
    assert.equal(calls, 1);
  });

  test("an open breaker's 503 carries retry-after: the seconds until its probe", async () => {
    await post("down");
    const res = await post("down");
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(res.status, 503);
    assert.equal(body.error.code, "breaker_open");
    const wait = Number(res.headers.get("retry-after"));
    assert.ok(wait >= 1 && wait <= 30, `retry-after ${wait}`);
  });
});
