import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ProviderConfigSchema, type AnthropicProvider, type GeminiProvider, type OpenAiProvider } from "../../gen/detour/v1/config_pb.js";
import { createAnthropicProvider } from "../../src/providers/anthropic.js";
import { createGeminiProvider } from "../../src/providers/gemini.js";
import { createOpenAIProvider } from "../../src/providers/openai.js";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { collect } from "../helpers/provider-calls.js";
import { userRequest } from "../helpers/requests.js";

// Each vendor's SDK base URL form, and the other common one:
// - @anthropic-ai/sdk: baseURL "https://api.anthropic.com" (client.d.ts ClientOptions.baseURL), paths add /v1;
// - @google/genai: httpOptions.baseUrl "https://generativelanguage.googleapis.com",
//   apiVersion separate, v1beta by default (genai.d.ts HttpOptions);
// - openai: baseURL "https://api.openai.com/v1".
// The fakes answer 404 on a path the real API does not serve (a doubled /v1, no version).
describe("base URLs in the vendor SDK's form and the other common form", () => {
  let anthropic: VendorFake;
  let gemini: VendorFake;
  let openai: VendorFake;
  before(async () => {
    [anthropic, gemini, openai] = await Promise.all([startAnthropicFake(), startGeminiFake(), startOpenAIFake()]);
  });
  after(() => Promise.all([anthropic.close(), gemini.close(), openai.close()]));

  test("Anthropic: the host alone (the SDK's form) and a trailing /v1 both reach /v1/messages", async () => {
    for (const baseUrl of [anthropic.url, `${anthropic.url}/v1`, `${anthropic.url}/v1/`]) {
      const pc = create(ProviderConfigSchema, { name: "a", kind: { case: "anthropic", value: { baseUrl } } });
      const p = createAnthropicProvider(pc, pc.kind.value as AnthropicProvider, { env: {} });
      anthropic.enqueue({ kind: "text", text: "ok" });
      assert.equal((await collect(p, userRequest("r"), "claude-haiku-4-5")).text, "ok", baseUrl);
      assert.equal(anthropic.requests.at(-1)?.path, "/v1/messages");
      await p.close?.();
    }
  });

  test("Gemini: the host alone (the SDK's form) gets /v1beta; a base with /v1beta or /v1 is used as is", async () => {
    for (const [baseUrl, path] of [[gemini.url, "/v1beta"], [`${gemini.url}/v1beta`, "/v1beta"], [`${gemini.url}/v1`, "/v1"]] as const) {
      const pc = create(ProviderConfigSchema, { name: "g", kind: { case: "gemini", value: { baseUrl } } });
      const p = createGeminiProvider(pc, pc.kind.value as GeminiProvider, { env: {} });
      gemini.enqueue({ kind: "text", text: "ok" });
      assert.equal((await collect(p, userRequest("r"), "gemini-2.5-flash")).text, "ok", baseUrl);
      assert.equal(gemini.requests.at(-1)?.path, `${path}/models/gemini-2.5-flash:streamGenerateContent`);
      await p.close?.();
    }
  });

  test("OpenAI: the base with /v1, as the SDK takes it", async () => {
    const pc = create(ProviderConfigSchema, { name: "o", kind: { case: "openai", value: { baseUrl: `${openai.url}/v1/` } } });
    const p = createOpenAIProvider(pc, pc.kind.value as OpenAiProvider, { env: {} });
    openai.enqueue({ kind: "text", text: "ok" });
    assert.equal((await collect(p, userRequest("r"), "gpt-4o")).text, "ok");
    assert.equal(openai.requests.at(-1)?.path, "/v1/chat/completions");
    await p.close?.();
  });
});
