import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";

describe("what the gateway asks the upstream for", () => {
  let fake: VendorFake;
  let gw: TestApp;
  before(async () => {
    fake = await startOpenAIFake();
    fake.setDefault({ kind: "text", text: "hello there" });
    gw = await startApp(`
auto_providers: false
breaker: { disabled: true }
providers:
  - { name: oai, openai: { base_url: "${fake.url}/v1" } }
routes:
  - { name: plain, targets: [{ model: oai/gpt-4o-mini }] }
  - { name: watched, targets: [{ model: oai/gpt-4o-mini, ttft_timeout: 5s }] }
`);
  });
  after(async () => {
    await gw.close();
    await fake.close();
  });

  const call = async (model: string, stream: boolean) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(text, /hello/);
    return fake.requests.at(-1)?.body as Record<string, unknown>;
  };

  test("a unary call with no latency threshold takes the whole JSON answer (no SSE to carry)", async () => {
    const body = await call("plain", false);
    assert.notEqual(body["stream"], true);
  });

  test("a TTFT threshold needs the first token as it comes, so even a unary call streams upstream", async () => {
    const body = await call("watched", false);
    assert.equal(body["stream"], true);
  });

  test("a streamed call streams upstream", async () => {
    const body = await call("plain", true);
    assert.equal(body["stream"], true);
  });
});
