import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ResponseFormatType, Role, ToolChoiceMode } from "../../gen/detour/v1/chat_pb.js";
import { ProviderConfigSchema, type GeminiProvider } from "../../gen/detour/v1/config_pb.js";
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { createGeminiProvider } from "../../src/providers/gemini.js";
import type { Provider } from "../../src/providers/types.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { collect, failure } from "../helpers/provider-calls.js";
import { userRequest } from "../helpers/requests.js";

describe("Gemini adapter against the fake", () => {
  let fake: VendorFake;
  let gemini: Provider;
  before(async () => {
    fake = await startGeminiFake();
    const pc = create(ProviderConfigSchema, { name: "gemini", kind: { case: "gemini", value: { baseUrl: `${fake.url}/v1beta`, apiKey: { source: { case: "env", value: "GEMINI_API_KEY" } } } } });
    gemini = createGeminiProvider(pc, pc.kind.value as GeminiProvider, { env: { GEMINI_API_KEY: "AIza-secret" } });
  });
  after(async () => {
    await gemini.close?.();
    await fake.close();
  });

  test("a CRLF-framed stream reads back; cumulative usage is taken once, at its total", async () => {
    fake.enqueue({ kind: "text", text: "Gemini says hello.", usage: { input: 9, output: 6, reasoning: 2 } });
    const got = await collect(gemini, userRequest("r", "hi"), "gemini-2.5-flash");
    assert.equal(got.text, "Gemini says hello.");
    assert.equal(got.finish, FinishReason.STOP);
    assert.equal(got.usage?.inputTokens, 9);
    assert.equal(got.usage?.outputTokens, 8, "thoughts count as output");
    assert.equal(got.usage?.reasoningTokens, 2);
    const sent = fake.requests.at(-1);
    assert.equal(sent?.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    assert.equal(sent?.query.get("alt"), "sse");
    assert.equal(sent?.headers["x-goog-api-key"], "AIza-secret");
  });

  test("contents, systemInstruction, functions, function responses and generationConfig", async () => {
    fake.enqueue({ kind: "text", text: "{}" });
    const req = userRequest("r", "x", {
      messages: [
        { role: Role.SYSTEM, content: [{ part: { case: "text", value: "terse" } }] },
        { role: Role.USER, content: [{ part: { case: "text", value: "weather?" } }, { part: { case: "image", value: { source: { case: "data", value: new Uint8Array([255]) }, mediaType: "image/jpeg" } } }] },
        { role: Role.ASSISTANT, toolCalls: [{ id: "c1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
        { role: Role.TOOL, toolCallId: "c1", content: [{ part: { case: "text", value: "sunny" } }] },
      ],
      tools: [{ name: "get_weather", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
      toolChoice: { choice: { case: "mode", value: ToolChoiceMode.REQUIRED } },
      responseFormat: { type: ResponseFormatType.JSON_SCHEMA, jsonSchema: { name: "w", schema: { type: "object" } } },
      sampling: { temperature: 0.1, topP: 0.5, topK: 4, maxOutputTokens: 64, stop: ["x"], seed: 7n },
    });
    await collect(gemini, req, "gemini-2.5-flash");
    const body = fake.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual(body["systemInstruction"], { parts: [{ text: "terse" }] });
    assert.deepEqual(body["contents"], [
      { role: "user", parts: [{ text: "weather?" }, { inlineData: { mimeType: "image/jpeg", data: "/w==" } }] },
      { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } } }] },
      { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }] },
    ]);
    assert.deepEqual(body["tools"], [
      { functionDeclarations: [{ name: "get_weather", description: "weather", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } }] },
    ]);
    assert.deepEqual(body["toolConfig"], { functionCallingConfig: { mode: "ANY" } });
    assert.deepEqual(body["generationConfig"], {
      temperature: 0.1,
      topP: 0.5,
      topK: 4,
      maxOutputTokens: 64,
      stopSequences: ["x"],
      seed: 7,
      responseMimeType: "application/json",
      responseJsonSchema: { type: "object" },
    });
  });

  test("function calls arrive whole and finish as tool_calls", async () => {
    fake.enqueue({ kind: "tool_calls", calls: [{ name: "a", arguments: '{"x":1}' }, { name: "b", arguments: '{"y":2}' }] });
    const got = await collect(gemini, userRequest("r", "x", { tools: [{ name: "a" }, { name: "b" }] }), "gemini-2.5-flash");
    assert.deepEqual(got.calls.map((c) => [c.name, JSON.parse(c.arguments)]), [["a", { x: 1 }], ["b", { y: 2 }]]);
    assert.equal(new Set(got.calls.map((c) => c.id)).size, 2, "each call gets an ID");
    assert.equal(got.finish, FinishReason.TOOL_CALLS);
  });

  test("a safety block is CONTENT_FILTERED; a safety finish is a content_filter finish", async () => {
    fake.enqueue({ kind: "blocked", reason: "SAFETY" });
    assert.equal((await failure(gemini, userRequest("r"), "gemini-2.5-flash")).reason, "CONTENT_FILTERED");
    fake.enqueue({ kind: "text", text: "partial", finish: "content_filter" });
    assert.equal((await collect(gemini, userRequest("r"), "gemini-2.5-flash")).finish, FinishReason.CONTENT_FILTER);
  });

  test("errors map by status; RetryInfo's retryDelay becomes the retry hint", async () => {
    const cases: [number, string, string | undefined, number | undefined][] = [
      [429, "RATE_LIMITED", undefined, 17000],
      [400, "CONTEXT_LENGTH_EXCEEDED", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", undefined],
      [400, "UPSTREAM_BAD_REQUEST", "bad field", undefined],
      [403, "UPSTREAM_AUTH", undefined, undefined],
      [404, "MODEL_NOT_FOUND", undefined, undefined],
      [500, "UPSTREAM_ERROR", undefined, undefined],
      [503, "UPSTREAM_UNAVAILABLE", undefined, undefined],
      [504, "UPSTREAM_TIMEOUT", undefined, undefined],
    ];
    for (const [status, reason, message, retryAfter] of cases) {
      fake.enqueue({ kind: "error", status, ...(message ? { message } : {}) });
      const err = await failure(gemini, userRequest("r"), "gemini-2.5-flash");
      assert.equal(err.reason, reason, `${status} ${message ?? ""}`);
      assert.equal(err.retryAfterMs, retryAfter);
    }
    fake.enqueue({ kind: "drop", afterFrames: 2, reply: { kind: "text", text: "a b c d e" } });
    assert.equal((await failure(gemini, userRequest("r"), "gemini-2.5-flash")).reason, "STREAM_DROPPED");
    fake.enqueue({ kind: "malformed", afterFrames: 1, reply: { kind: "text", text: "a b c" } });
    assert.equal((await failure(gemini, userRequest("r"), "gemini-2.5-flash")).reason, "MALFORMED_RESPONSE");
  });

  test("parallel_tool_calls: false is refused rather than ignored", async () => {
    const err = await failure(gemini, userRequest("r", "x", { tools: [{ name: "a" }], parallelToolCalls: false }), "gemini-2.5-flash");
    assert.equal(err.reason, "CAPABILITY_MISMATCH");
  });
  test("a model name that would walk out of models/ never reaches another path on the vendor's host", async () => {
    const before = fake.requests.length;
    for (const model of ["../../../admin/x?", "models/../admin", "gemini-2.5-flash:generateContent#", "a b", "tunedModels/x/../../y", "%2e%2e"]) {
      const err = await failure(gemini, userRequest("r"), model);
      assert.equal(err.reason, "INVALID_REQUEST", model);
      assert.equal(err.field, "model");
      assert.match(err.message, /letters, digits/);
    }
    assert.equal(fake.requests.length, before, "no request left the gateway, so the key went nowhere");
    fake.enqueue({ kind: "text", text: "ok" }, { kind: "text", text: "ok" });
    await collect(gemini, userRequest("r"), "models/gemini-2.0-flash-001");
    assert.equal(fake.requests.at(-1)?.path, "/v1beta/models/gemini-2.0-flash-001:streamGenerateContent");
    await collect(gemini, userRequest("r"), "tunedModels/my-tuned_1.v2");
    assert.equal(fake.requests.at(-1)?.path, "/v1beta/tunedModels/my-tuned_1.v2:streamGenerateContent");
  });
});

// FileData { fileUri, mimeType } — mimeType optional in the Gemini API
// (ai.google.dev/api/caching#FileData; @google/genai genai.d.ts FileData).
describe("Gemini https images", () => {
  test("the type comes from the URL's extension, and is left out when unknown", async () => {
    const fake = await startGeminiFake();
    const pc = create(ProviderConfigSchema, { name: "g", kind: { case: "gemini", value: { baseUrl: fake.url } } });
    const gemini = createGeminiProvider(pc, pc.kind.value as GeminiProvider, { env: {} });
    const cases: [string, string | undefined][] = [
      ["https://x.test/a.png", "image/png"],
      ["https://x.test/a.JPG?size=2", "image/jpeg"],
      ["https://x.test/a.webp", "image/webp"],
      ["https://x.test/a.heic", "image/heic"],
      ["https://x.test/photo", undefined],
    ];
    try {
      for (const [url, type] of cases) {
        fake.enqueue({ kind: "text", text: "ok" });
        await collect(gemini, userRequest("r", "x", { messages: [{ role: Role.USER, content: [{ part: { case: "image", value: { source: { case: "url", value: url } } } }] }] }), "gemini-2.5-flash");
        const contents = fake.requests.at(-1)?.body["contents"] as { parts: { fileData?: Record<string, unknown> }[] }[];
        assert.deepEqual(contents[0]?.parts[0]?.fileData, { ...(type ? { mimeType: type } : {}), fileUri: url }, url);
      }
    } finally {
      await gemini.close?.();
      await fake.close();
    }
  });
});
