import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { SAMPLING_FREE_VERSION } from "../fakes/anthropic-rules.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";

// anthropic-version 2026-10-21 is what @anthropic-ai/sdk 1.13 sends
// (node_modules/@anthropic-ai/sdk/client.js buildHeaders) and its
// MessageCreateParamsBase (resources/messages/messages.d.ts) has no
// temperature, top_p or top_k: the fake refuses them with a 400
// invalid_request_error under that version, as the API does.
describe("sampling parameters against the configured anthropic-version", () => {
  let anthropic: VendorFake;
  let gemini: VendorFake;
  let gw: TestApp;
  let client: OpenAI;
  before(async () => {
    anthropic = await startAnthropicFake();
    gemini = await startGeminiFake();
    gw = await startApp(`
auto_providers: false
breaker: { disabled: true }
providers:
  - { name: claude-new, anthropic: { base_url: "${anthropic.url}", version: "${SAMPLING_FREE_VERSION}" } }
  - { name: claude-old, anthropic: { base_url: "${anthropic.url}", version: "2023-06-01" } }
  - { name: gemini, gemini: { base_url: "${gemini.url}" } }
routes:
  - { name: new-first, targets: [{ model: claude-new/claude-haiku-4-5 }, { model: gemini/gemini-2.5-flash }] }
  - { name: unknown-model, targets: [{ model: claude-new/claude-next }, { model: gemini/gemini-2.5-flash }] }
  - { name: old, targets: [{ model: claude-old/claude-haiku-4-5 }] }
`);
    client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await anthropic.close();
    await gemini.close();
  });

  test("a Claude target on a version that refuses temperature is set aside, and the next target answers", async () => {
    const before = anthropic.requests.length;
    gemini.enqueue({ kind: "text", text: "from gemini" });
    const res = await client.chat.completions.create({ model: "new-first", temperature: 0.2, messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.choices[0]?.message.content, "from gemini");
    assert.equal(anthropic.requests.length, before, "Claude was not sent a request it refuses");
  });

  test("so is a model the catalog does not know", async () => {
    gemini.enqueue({ kind: "text", text: "from gemini" });
    const res = await client.chat.completions.create({ model: "unknown-model", top_p: 0.5, messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.choices[0]?.message.content, "from gemini");
  });

  test("without sampling parameters the new version serves; the old version still takes temperature", async () => {
    anthropic.enqueue({ kind: "text", text: "claude new" }, { kind: "text", text: "claude old" });
    const a = await client.chat.completions.create({ model: "new-first", messages: [{ role: "user", content: "hi" }] });
    assert.equal(a.choices[0]?.message.content, "claude new");
    const b = await client.chat.completions.create({ model: "old", temperature: 0.2, messages: [{ role: "user", content: "hi" }] });
    assert.equal(b.choices[0]?.message.content, "claude old");
    assert.equal(anthropic.requests.at(-1)?.body["temperature"], 0.2);
  });
});
