/**
 * Prices follow the model's name, whatever the provider's base URL: a
 * corporate proxy in front of OpenAI charges OpenAI's list prices
 * (catalog-data.ts), a dated snapshot its family's, and a model nobody
 * priced is said to be unknown, never counted as $0 in silence.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";

interface Answer {
  detour: { cost?: { totalUsd?: number }; attempts: { costUsd?: number; priceUnknown?: boolean }[] };
}

describe("prices by model name", () => {
  let fake: VendorFake;
  let t: TestApp;
  before(async () => {
    fake = await startOpenAIFake();
    t = await startApp(
      `
auto_providers: false
server: { drain_timeout: 2s }
providers:
  - name: proxy
    openai: { base_url: "${fake.url}/v1", api_key: { env: PROXY_KEY } }
    allowed_models: ["in-house-*"]
routes:
  - { name: mini, targets: [{ model: proxy/gpt-4o-mini }] }
  - { name: snapshot, targets: [{ model: proxy/gpt-4o-2024-08-06 }] }
  - { name: unpriced, targets: [{ model: proxy/in-house-llm }] }
`,
      { providerDeps: { http: { env: { PROXY_KEY: "sk-proxy-key" } } } },
    );
  });
  after(async () => {
    await t.close();
    await fake.close();
  });
  const chat = async (model: string): Promise<Answer> => {
    fake.enqueue({ kind: "text", text: "ok", usage: { input: 1_000_000, output: 1_000_000 } });
    const res = await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(res.status, 200);
    return (await res.json()) as Answer;
  };

  test("a model behind a custom base_url costs its catalog price (gpt-4o-mini: $0.15 + $0.60 per million)", async () => {
    const { detour } = await chat("mini");
    assert.equal(detour.cost?.totalUsd, 0.75);
    assert.equal(detour.attempts[0]?.priceUnknown, undefined);
  });

  test("a dated snapshot costs its family's price (gpt-4o: $2.50 + $10 per million)", async () => {
    const { detour } = await chat("snapshot");
    assert.equal(detour.cost?.totalUsd, 12.5);
  });

  test("a model without a price is said to be unknown: in the attempts trail, and to the operator at start", async () => {
    const { detour } = await chat("unpriced");
    assert.equal(detour.attempts[0]?.priceUnknown, true);
    assert.deepEqual(t.app.gateway.unpriced(), ["proxy/in-house-llm"]);
  });
});
