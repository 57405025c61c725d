import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { PromptCacheRetention, ReasoningEffort, ServiceTier, Verbosity } from "../../gen/detour/v1/chat_pb.js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";

// Parameters of ChatCompletionCreateParamsBase that 2026 clients send
// (openai SDK 7.57 resources/chat/completions/completions.d.ts:
// reasoning_effort incl. none/xhigh (shared.d.ts ReasoningEffort), verbosity,
// prompt_cache_key, prompt_cache_retention 'in_memory' | '24h',
// safety_identifier, service_tier, parallel_tool_calls, store, metadata, user).
describe("2026 Chat Completions parameters, through the openai SDK", () => {
  let openai: VendorFake;
  let gemini: VendorFake;
  let anthropic: VendorFake;
  let gw: TestApp;
  let client: OpenAI;
  before(async () => {
    [openai, gemini, anthropic] = await Promise.all([startOpenAIFake(), startGeminiFake(), startAnthropicFake()]);
    gw = await startApp(`
auto_providers: false
breaker: { disabled: true }
providers:
  - { name: oai, openai: { base_url: "${openai.url}/v1" } }
  - { name: gemini, gemini: { base_url: "${gemini.url}" } }
  - { name: claude, anthropic: { base_url: "${anthropic.url}" } }
routes:
  - { name: oai, targets: [{ model: oai/gpt-5 }] }
  - { name: gemini-first, targets: [{ model: gemini/gemini-2.5-flash }, { model: oai/gpt-5 }] }
  - { name: claude-first, targets: [{ model: claude/claude-haiku-4-5 }, { model: oai/gpt-5 }] }
  - { name: gemini-only, targets: [{ model: gemini/gemini-2.5-flash }] }
`);
    client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([openai.close(), gemini.close(), anthropic.close()]);
  });

  test("each reaches an OpenAI target as sent", async () => {
    const sent = {
      reasoning_effort: "xhigh",
      verbosity: "low",
      prompt_cache_key: "conv-42",
      prompt_cache_retention: "24h",
      safety_identifier: "user-hash",
      service_tier: "flex",
      store: false,
      metadata: { team: "search" },
      user: "u-7",
    } as const;
    const res = await client.chat.completions.create({ model: "oai", messages: [{ role: "user", content: "hi" }], ...sent });
    assert.equal(res.choices[0]?.message.content, "Hello from the fake.");
    const body = openai.requests.at(-1)?.body as Record<string, unknown>;
    for (const [k, v] of Object.entries(sent)) assert.deepEqual(body[k], v, k);
    await client.chat.completions.create({ model: "oai", messages: [{ role: "user", content: "hi" }], reasoning_effort: "none" });
    assert.equal(openai.requests.at(-1)?.body["reasoning_effort"], "none");
  });

  test("null means absent for nullable parameters", async () => {
    const nulls = { modalities: null, verbosity: null, reasoning_effort: null, service_tier: null, prompt_cache_retention: null, store: null, metadata: null, safety_identifier: null, prompt_cache_key: null };
    const res = await client.chat.completions.create({ model: "oai", messages: [{ role: "user", content: "hi" }], ...nulls });
    assert.equal(res.object, "chat.completion");
    const body = openai.requests.at(-1)?.body as Record<string, unknown>;
    for (const k of Object.keys(nulls)) assert.equal(body[k], undefined, k);
  });

  test("verbosity and a flex tier set Gemini and Claude aside, and the OpenAI target answers", async () => {
    const g = gemini.requests.length;
    const a = anthropic.requests.length;
    const v = await client.chat.completions.create({ model: "gemini-first", messages: [{ role: "user", content: "hi" }], verbosity: "high" });
    assert.equal(v.model, "oai/gpt-5");
    const t = await client.chat.completions.create({ model: "claude-first", messages: [{ role: "user", content: "hi" }], service_tier: "priority" });
    assert.equal(t.model, "oai/gpt-5");
    assert.equal(gemini.requests.length, g);
    assert.equal(anthropic.requests.length, a);
  });

  test("Gemini: effort none turns thinking off, xhigh asks for the largest budget; the cache hints are not sent", async () => {
    for (const [effort, budget] of [["none", 0], ["xhigh", 24576]] as const) {
      await client.chat.completions.create({ model: "gemini-only", messages: [{ role: "user", content: "hi" }], reasoning_effort: effort, prompt_cache_key: "k", store: true });
      const body = gemini.requests.at(-1)?.body as Record<string, Record<string, unknown>>;
      assert.deepEqual(body["generationConfig"]?.["thinkingConfig"], { thinkingBudget: budget });
      assert.equal(body["prompt_cache_key"], undefined);
    }
  });

  test("a parameter no target of the route can honour is a 400 naming why", async () => {
    const err = await client.chat.completions.create({ model: "gemini-only", messages: [{ role: "user", content: "hi" }], verbosity: "low" }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, /verbosity/);
  });
});

describe("the same canonical fields over Connect", () => {
  test("service_tier, prompt cache, store, safety_identifier and verbosity set on CompleteRequest reach an OpenAI target", async () => {
    const fake = await startOpenAIFake();
    const gw = await startApp(`
auto_providers: false
breaker: { disabled: true }
providers:
  - { name: oai, openai: { base_url: "${fake.url}/v1" } }
routes:
  - { name: oai, targets: [{ model: oai/gpt-5 }] }
`);
    try {
      const client = createClient(GatewayService, createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" }));
      await client.complete(userRequest("oai", "hi", {
        serviceTier: ServiceTier.PRIORITY,
        promptCacheKey: "k1",
        promptCacheRetention: PromptCacheRetention.IN_MEMORY,
        store: true,
        safetyIdentifier: "sid",
        sampling: { verbosity: Verbosity.MEDIUM, reasoningEffort: ReasoningEffort.NONE },
      }));
      const body = fake.requests.at(-1)?.body as Record<string, unknown>;
      assert.deepEqual(
        [body["service_tier"], body["prompt_cache_key"], body["prompt_cache_retention"], body["store"], body["safety_identifier"], body["verbosity"], body["reasoning_effort"]],
        ["priority", "k1", "in_memory", true, "sid", "medium", "none"],
      );
    } finally {
      await gw.close();
      await fake.close();
    }
  });
});
