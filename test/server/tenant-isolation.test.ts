/**
 * What one gateway key can do to another, end to end over both transports:
 * request IDs are each key's own, vendor extras cannot rewrite what Detour
 * owns, and no key's input can open a breaker every key shares.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

const KEYS = `
keys:
  - { name: team-a, sha256: ${hash("k-a")} }
  - { name: team-b, sha256: ${hash("k-b")} }
`;

/** A Connect JSON unary call. */
function connectComplete(url: string, key: string, body: unknown): Promise<Response> {
  return fetch(`${url}/detour.v1.GatewayService/Complete`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

/** An OpenAI API chat call. */
function openaiChat(url: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
  });
}

describe("tenant isolation: request IDs", () => {
  let t: TestApp;
  before(async () => (t = await startApp(`${SIM_CONFIG}${KEYS}`)));
  after(() => t.close());

  test("key B sending key A's body and ID gets its own answer, not A's replayed one (OpenAI API and Connect)", async () => {
    const body = { model: "sim/echo", messages: [{ role: "user", content: "my secret order" }] };
    const a = await openaiChat(t.url, "k-a", body, { "idempotency-key": "order-7" });
    assert.equal(a.status, 200);
    const b = await openaiChat(t.url, "k-b", body, { "idempotency-key": "order-7" });
    assert.equal(b.status, 200);
    assert.equal(b.headers.get("x-detour-replayed"), null, "B's request was executed, not served from A's record");
    assert.notEqual(b.headers.get("x-request-id"), a.headers.get("x-request-id"));
    const chat = { model: "sim/echo", requestId: "order-9", messages: [{ role: "ROLE_USER", content: [{ text: "my secret order" }] }] };
    const ca = (await (await connectComplete(t.url, "k-a", chat)).json()) as { id: string };
    const cb = (await (await connectComplete(t.url, "k-b", chat)).json()) as { id: string; replayed?: boolean };
    assert.equal(cb.replayed, undefined, "over Connect too, B's request was executed");
    assert.notEqual(cb.id, ca.id);
  });

  test("key B claiming an ID first does not turn key A's real request into a 422", async () => {
    const squat = await connectComplete(t.url, "k-b", { model: "sim/echo", requestId: "order-8", messages: [{ role: "ROLE_USER", content: [{ text: "squatted" }] }] });
    assert.equal(squat.status, 200);
    const real = await openaiChat(t.url, "k-a", { model: "sim/echo", messages: [{ role: "user", content: "the real order" }] }, { "idempotency-key": "order-8" });
    assert.equal(real.status, 200, await real.clone().text());
    assert.equal(real.headers.get("x-detour-replayed"), null);
  });
});

describe("tenant isolation: provider_options and request IDs reaching the upstream", () => {
  let fake: VendorFake;
  let t: TestApp;
  before(async () => {
    fake = await startOpenAIFake();
    fake.setDefault({ kind: "text", text: "hello there", usage: { input: 3, output: 2 } });
    t = await startApp(`
auto_providers: false
breaker: { volume_threshold: 2, error_threshold_percent: 50, window: 60s, reset_timeout: 60s }
providers:
  - { name: openai, openai: { base_url: "${fake.url}/v1" }, models: [{ name: gpt-priced, pricing: { input_per_mtok: 1, output_per_mtok: 2 } }] }
routes:
  - { name: chat, targets: [{ model: openai/gpt-4o-mini }] }
  - { name: extras, allow_provider_options: true, targets: [{ model: openai/gpt-4o-mini }] }
  - { name: priced, targets: [{ model: openai/gpt-priced }] }
  - { name: unpriced, targets: [{ model: openai/in-house-llm }] }
keys:
  - { name: budgeted, sha256: ${hash("k-budgeted")}, usd_per_day: 10 }
  - { name: limited, sha256: ${hash("k-limited")}, routes: [chat, extras] }
  - { name: full, sha256: ${hash("k-full")} }
`);
  });
  after(async () => {
    await t.close();
    await fake.close();
  });

  const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "ROLE_USER", content: [{ text: "hi" }] }], ...extra });

  test("vendor extras that would replace model, n or the token limit are refused before any upstream call, naming the field", async () => {
    const before = fake.requests.length;
    for (const key of ["k-full", "k-limited"]) {
      const res = await connectComplete(t.url, key, chat("extras", { providerOptions: { openai: { model: "gpt-4o", n: 3, max_completion_tokens: 100000 } } }));
      assert.equal(res.status, 400);
      const err = (await res.json()) as { code: string; message: string };
      assert.equal(err.code, "invalid_argument");
      assert.match(err.message, /^provider_options\.openai\.model: is set by Detour/);
    }
    for (const field of ["messages", "stream"]) {
      const res = await connectComplete(t.url, "k-full", chat("chat", { providerOptions: { openai: { [field]: field === "stream" ? true : [] } } }));
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { message: string }).message, new RegExp(`provider_options\\.openai\\.${field}:`));
    }
    assert.equal(fake.requests.length, before, "nothing reached the upstream");
  });

  test("a route-limited key may send extras only on routes that allow them; a key with every route may anywhere", async () => {
    const denied = await connectComplete(t.url, "k-limited", chat("chat", { providerOptions: { openai: { logprobs: true } } }));
    assert.equal(denied.status, 403);
    const err = (await denied.json()) as { code: string; message: string };
    assert.equal(err.code, "permission_denied");
    assert.match(err.message, /route "chat".*routes\[0\]\.allow_provider_options/);
    const allowed = await connectComplete(t.url, "k-limited", chat("extras", { providerOptions: { openai: { logprobs: true } } }));
    assert.equal(allowed.status, 200, await allowed.clone().text());
    assert.equal(fake.requests.at(-1)?.body["logprobs"], true);
    const full = await connectComplete(t.url, "k-full", chat("chat", { providerOptions: { openai: { logprobs: true } } }));
    assert.equal(full.status, 200);
  });

  test("a request ID with a line break is refused naming request_id; a unicode one is sent percent-encoded and the breaker stays closed", async () => {
    const bad = await connectComplete(t.url, "k-full", chat("chat", { requestId: "bad\nid" }));
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /^request_id: contains a control character/);
    for (let i = 0; i < 4; i++) {
      const res = await connectComplete(t.url, "k-full", chat("chat", { requestId: `注文-${i}` }));
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(fake.requests.at(-1)?.headers["x-client-request-id"], `%E6%B3%A8%E6%96%87-${i}`);
    }
    const other = await openaiChat(t.url, "k-limited", { model: "chat", messages: [{ role: "user", content: "hi" }] });
    assert.equal(other.status, 200, "another key is still served: no breaker opened");
  });

  test("a key with a USD budget is refused a model without a price, before any upstream call; a priced one is served and charged", async () => {
    const before = fake.requests.length;
    const res = await openaiChat(t.url, "k-budgeted", { model: "unpriced", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.status, 400);
    const err = ((await res.json()) as { error: { message: string } }).error;
    assert.match(err.message, /openai\/in-house-llm has no price.*pricing:/);
    assert.equal(fake.requests.length, before, "nothing reached the upstream");
    const ok = await openaiChat(t.url, "k-budgeted", { model: "priced", messages: [{ role: "user", content: "hi" }] });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.ok(Number(ok.headers.get("x-detour-cost-usd")) > 0);
    const open = await openaiChat(t.url, "k-full", { model: "unpriced", messages: [{ role: "user", content: "hi" }] });
    assert.equal(open.status, 200, "a key without a USD budget may still use it");
  });
});
