import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ImageDetail, ReasoningEffort, ResponseFormatType, Role, ToolChoiceMode } from "../../gen/detour/v1/chat_pb.js";
import { OpenAiDialect, OpenAiProviderSchema, ProviderConfigSchema, type OpenAiProvider } from "../../gen/detour/v1/config_pb.js";
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { createOpenAIProvider } from "../../src/providers/openai.js";
import type { Provider } from "../../src/providers/types.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { collect, failure } from "../helpers/provider-calls.js";
import { userRequest } from "../helpers/requests.js";

function provider(fake: VendorFake, name: string, cfg: MessageInitShape<typeof OpenAiProviderSchema> = {}): Provider {
  const value = create(OpenAiProviderSchema, { baseUrl: `${fake.url}/v1`, apiKey: { source: { case: "env", value: "K" } } });
  Object.assign(value, create(OpenAiProviderSchema, cfg), { baseUrl: value.baseUrl, apiKey: value.apiKey });
  const pc = create(ProviderConfigSchema, { name, kind: { case: "openai", value } });
  if (pc.kind.case !== "openai") throw new Error("unreachable");
  return createOpenAIProvider(pc, pc.kind.value, { env: { K: "sk-secret-test-key" } });
}

describe("OpenAI adapter against the fake", () => {
  let fake: VendorFake;
  let openai: Provider;
  before(async () => {
    fake = await startOpenAIFake();
    openai = provider(fake, "compat", { dialect: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE });
  });
  after(async () => {
    await openai.close?.();
    await fake.close();
  });

  test("text streams back with usage; the request is a streaming Chat Completions call", async () => {
    fake.enqueue({ kind: "text", text: "Hello, world.", usage: { input: 7, output: 3, cached: 4, reasoning: 1 } });
    const got = await collect(openai, userRequest("r", "hi"), "gpt-4o-mini");
    assert.equal(got.text, "Hello, world.");
    assert.equal(got.finish, FinishReason.STOP);
    assert.equal(got.usage?.inputTokens, 7);
    assert.equal(got.usage?.cachedInputTokens, 4);
    assert.equal(got.usage?.reasoningTokens, 1);
    const req = fake.requests.at(-1);
    assert.equal(req?.path, "/v1/chat/completions");
    assert.equal(req?.headers["authorization"], "Bearer sk-secret-test-key");
    assert.deepEqual(req?.body, {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  test("every parameter reaches the vendor: tools, tool choice, JSON schema, sampling, images, tool results", async () => {
    fake.enqueue({ kind: "text", text: "{}" });
    const req = userRequest("r", "look", {
      messages: [
        { role: Role.SYSTEM, content: [{ part: { case: "text", value: "be brief" } }] },
        { role: Role.DEVELOPER, content: [{ part: { case: "text", value: "dev note" } }] },
        {
          role: Role.USER,
          content: [
            { part: { case: "text", value: "what is this?" } },
            { part: { case: "image", value: { source: { case: "data", value: new Uint8Array([1, 2, 3]) }, mediaType: "image/png", detail: ImageDetail.LOW } } },
            { part: { case: "image", value: { source: { case: "url", value: "https://example.test/cat.jpg" } } } },
          ],
        },
        { role: Role.ASSISTANT, toolCalls: [{ id: "call_1", name: "lookup", arguments: '{"q":"cat"}' }] },
        { role: Role.TOOL, toolCallId: "call_1", content: [{ part: { case: "text", value: '{"animal":"cat"}' } }] },
      ],
      tools: [{ name: "lookup", description: "look up", parameters: { type: "object", properties: { q: { type: "string" } } }, strict: true }],
      toolChoice: { choice: { case: "mode", value: ToolChoiceMode.REQUIRED } },
      parallelToolCalls: false,
      responseFormat: { type: ResponseFormatType.JSON_SCHEMA, jsonSchema: { name: "answer", schema: { type: "object" }, strict: true } },
      sampling: { temperature: 0.2, topP: 0.9, maxOutputTokens: 50, stop: ["END"], seed: 42n, presencePenalty: 0.1, frequencyPenalty: 0.2, reasoningEffort: ReasoningEffort.LOW },
      user: "user-7",
      providerOptions: { compat: { logprobs: true } },
    });
    await collect(openai, req, "gpt-4o");
    const body = fake.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual(body["messages"], [
      { role: "system", content: "be brief" },
      { role: "system", content: "dev note" },
      {
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AQID", detail: "low" } },
          { type: "image_url", image_url: { url: "https://example.test/cat.jpg" } },
        ],
      },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"cat"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: '{"animal":"cat"}' },
    ]);
    assert.deepEqual(body["tools"], [
      { type: "function", function: { name: "lookup", description: "look up", parameters: { type: "object", properties: { q: { type: "string" } } }, strict: true } },
    ]);
    assert.equal(body["tool_choice"], "required");
    assert.equal(body["parallel_tool_calls"], false);
    assert.deepEqual(body["response_format"], { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" }, strict: true } });
    assert.equal(body["temperature"], 0.2);
    assert.equal(body["top_p"], 0.9);
    assert.equal(body["max_tokens"], 50, "compatible servers get max_tokens");
    assert.deepEqual(body["stop"], ["END"]);
    assert.equal(body["seed"], 42);
    assert.equal(body["presence_penalty"], 0.1);
    assert.equal(body["frequency_penalty"], 0.2);
    assert.equal(body["reasoning_effort"], "low");
    assert.equal(body["user"], "user-7");
    assert.equal(body["logprobs"], true, "provider_options are merged for this provider");
  });

  test("OpenAI itself gets max_completion_tokens and the developer role; Azure gets deployment URLs and api-key", async () => {
    const azure = provider(fake, "azure", { azure: { apiVersion: "2024-10-21", deployments: { "gpt-4o": "prod-4o" } } });
    fake.enqueue({ kind: "text", text: "ok" });
    await collect(azure, userRequest("r", "x", { sampling: { maxOutputTokens: 9 }, messages: [{ role: Role.DEVELOPER, content: [{ part: { case: "text", value: "d" } }] }, { role: Role.USER, content: [{ part: { case: "text", value: "u" } }] }] }), "gpt-4o");
    const req = fake.requests.at(-1);
    assert.equal(req?.path, "/v1/openai/deployments/prod-4o/chat/completions");
    assert.equal(req?.query.get("api-version"), "2024-10-21");
    assert.equal(req?.headers["api-key"], "sk-secret-test-key");
    assert.equal(req?.headers["authorization"], undefined);
    assert.equal(req?.body["max_completion_tokens"], 9);
    assert.equal((req?.body["messages"] as { role: string }[])[0]?.role, "developer");
    await azure.close?.();
  });

  test("an Azure deployment name that would change the URL's path is refused before any request", async () => {
    const azure = provider(fake, "azure", { azure: { apiVersion: "2024-10-21", deployments: {} } });
    const before = fake.requests.length;
    const err = await failure(azure, userRequest("r"), "../../admin?x=");
    assert.equal(err.reason, "INVALID_REQUEST");
    assert.equal(err.field, "model");
    assert.equal(fake.requests.length, before);
    await azure.close?.();
  });

  // A proxy in front of OpenAI: a custom base_url keeps OpenAI's shape unless
  // the dialect says otherwise. The fake refuses max_tokens for gpt-5 as the
  // API does (openai SDK completions.d.ts: max_tokens "not compatible with o-series models").
  test("a custom base_url without a dialect speaks OpenAI: max_completion_tokens and developer reach a reasoning model", async () => {
    const proxy = provider(fake, "corp-proxy");
    fake.enqueue({ kind: "text", text: "ok" });
    const req = userRequest("r", "x", { sampling: { maxOutputTokens: 9 }, messages: [{ role: Role.DEVELOPER, content: [{ part: { case: "text", value: "d" } }] }, { role: Role.USER, content: [{ part: { case: "text", value: "u" } }] }] });
    const got = await collect(proxy, req, "gpt-5");
    assert.equal(got.text, "ok");
    const sent = fake.requests.at(-1)?.body as Record<string, unknown>;
    assert.equal(sent["max_completion_tokens"], 9);
    assert.equal(sent["max_tokens"], undefined);
    assert.equal((sent["messages"] as { role: string }[])[0]?.role, "developer");
    const legacy = provider(fake, "legacy", { dialect: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE });
    const err = await failure(legacy, req, "gpt-5");
    assert.equal(err.reason, "UPSTREAM_BAD_REQUEST", "the compatible dialect sends max_tokens, which the API refuses for gpt-5");
    const fixed = provider(fake, "legacy-fixed", { dialect: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE, maxTokensField: "max_completion_tokens" });
    fake.enqueue({ kind: "text", text: "ok" });
    assert.equal((await collect(fixed, req, "gpt-5")).text, "ok", "max_tokens_field still overrides the dialect");
    await Promise.all([proxy.close?.(), legacy.close?.(), fixed.close?.()]);
  });

  // WIRE-NOTES: a tool_choice naming one function ends with finish_reason "stop"; the fake does the same.
  test("a forced tool choice finishes as TOOL_CALLS, streamed and unary, as on the other vendors", async () => {
    const forced = { toolChoice: { choice: { case: "function" as const, value: "lookup" } }, tools: [{ name: "lookup", parameters: { type: "object" } }] };
    for (const stream of [true, false]) {
      fake.enqueue({ kind: "tool_calls", calls: [{ id: "call_f", name: "lookup", arguments: "{}" }] });
      const got = await collect(openai, userRequest("r", "x", forced), "gpt-4o", undefined, stream);
      assert.equal(got.calls[0]?.name, "lookup");
      assert.equal(got.finish, FinishReason.TOOL_CALLS, `stream: ${stream}`);
    }
  });

  test("parallel tool calls stream as fragments and reassemble", async () => {
    fake.enqueue({ kind: "tool_calls", calls: [{ id: "call_a", name: "a", arguments: '{"x":1,"y":"two"}' }, { id: "call_b", name: "b", arguments: '{"z":[1,2,3]}' }] });
    const got = await collect(openai, userRequest("r"), "gpt-4o");
    assert.deepEqual(got.calls, [
      { id: "call_a", name: "a", arguments: '{"x":1,"y":"two"}' },
      { id: "call_b", name: "b", arguments: '{"z":[1,2,3]}' },
    ]);
    assert.equal(got.finish, FinishReason.TOOL_CALLS);
    assert.ok(got.events.filter((e) => e.type === "tool_call").length > 4, "arguments came in fragments");
  });

  test("each error class maps to its reason, with retry hints and no key in the message", async () => {
    const cases: [Parameters<VendorFake["enqueue"]>[0], string, number | undefined][] = [
      [{ kind: "error", status: 429, code: "rate_limit_exceeded", headers: { "retry-after": "7" } }, "RATE_LIMITED", 7000],
      [{ kind: "error", status: 429, code: "rate_limit_exceeded", headers: { "retry-after-ms": "1500" } }, "RATE_LIMITED", 1500],
      // A bucket's reset time is no wait hint (upstream-errors.ts).
      [{ kind: "error", status: 429, code: "rate_limit_exceeded", headers: { "x-ratelimit-reset-requests": "6m0s" } }, "RATE_LIMITED", undefined],
      [{ kind: "error", status: 429, code: "insufficient_quota" }, "QUOTA_EXHAUSTED", undefined],
      [{ kind: "error", status: 503 }, "UPSTREAM_UNAVAILABLE", undefined],
      [{ kind: "error", status: 500 }, "UPSTREAM_ERROR", undefined],
      [{ kind: "error", status: 502 }, "UPSTREAM_ERROR", undefined],
      [{ kind: "error", status: 504 }, "UPSTREAM_TIMEOUT", undefined],
      [{ kind: "error", status: 401, code: "invalid_api_key", message: "Incorrect API key provided: sk-secr*************-key" }, "UPSTREAM_AUTH", undefined],
      [{ kind: "error", status: 403 }, "UPSTREAM_AUTH", undefined],
      [{ kind: "error", status: 400, code: "context_length_exceeded" }, "CONTEXT_LENGTH_EXCEEDED", undefined],
      [{ kind: "error", status: 400, code: "content_filter" }, "CONTENT_FILTERED", undefined],
      [{ kind: "error", status: 400, code: "invalid_value", message: "bad temperature" }, "UPSTREAM_BAD_REQUEST", undefined],
      [{ kind: "error", status: 404, code: "model_not_found" }, "MODEL_NOT_FOUND", undefined],
    ];
    for (const [reply, reason, retryAfter] of cases) {
      fake.enqueue(reply);
      const err = await failure(openai, userRequest("r"), "gpt-4o");
      assert.equal(err.reason, reason, JSON.stringify(reply));
      assert.equal(err.retryAfterMs, retryAfter, JSON.stringify(reply));
      assert.equal(err.hop?.provider, "compat");
      assert.ok(!err.message.includes("sk-secr"), `no key fragment in "${err.message}"`);
    }
  });

  test("a cut stream is STREAM_DROPPED, a corrupt one MALFORMED_RESPONSE, a refused connection CONNECTION_FAILED", async () => {
    fake.enqueue({ kind: "drop", afterFrames: 3, reply: { kind: "text", text: "one two three four five" } });
    assert.equal((await failure(openai, userRequest("r"), "gpt-4o")).reason, "STREAM_DROPPED");
    fake.enqueue({ kind: "malformed", afterFrames: 2, reply: { kind: "text", text: "one two three" } });
    assert.equal((await failure(openai, userRequest("r"), "gpt-4o")).reason, "MALFORMED_RESPONSE");
    const pc = create(ProviderConfigSchema, { name: "gone", kind: { case: "openai", value: { baseUrl: "http://127.0.0.1:1/v1" } } });
    const gone = createOpenAIProvider(pc, pc.kind.value as OpenAiProvider, { env: {} });
    assert.equal((await failure(gone, userRequest("r"), "m")).reason, "CONNECTION_FAILED");
  });

  test("an abort mid-stream reaches the upstream", async () => {
    fake.enqueue({ kind: "hang" });
    const ctl = new AbortController();
    const aborted = fake.nextAbort();
    const arrived = fake.nextRequest();
    const call = collect(openai, userRequest("r"), "gpt-4o", ctl.signal);
    await arrived;
    ctl.abort();
    await assert.rejects(call);
    await aborted;
  });

  test("a server that answers JSON to a stream request is still understood", async () => {
    const noStream = provider(fake, "nostream", { streamUsage: false });
    fake.enqueue({ kind: "text", text: "whole" });
    const original = fake.requests.length;
    // The fake streams only when asked; describe() marks an unknown model as streaming, so force JSON via a catalog override.
    const pc = create(ProviderConfigSchema, {
      name: "json",
      kind: { case: "openai", value: { baseUrl: `${fake.url}/v1` } },
      models: [{ name: "batch-model", capabilities: { streaming: false } }],
    });
    const json = createOpenAIProvider(pc, pc.kind.value as OpenAiProvider, { env: {} });
    const got = await collect(json, userRequest("r"), "batch-model");
    assert.equal(got.text, "whole");
    assert.equal(fake.requests[original]?.body["stream"], undefined);
    await noStream.close?.();
    await json.close?.();
  });
});
