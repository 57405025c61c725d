import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ResponseFormatType, ServiceTier, Verbosity, Role, ToolChoiceMode } from "../../gen/detour/v1/chat_pb.js";
import { ProviderConfigSchema, type AnthropicProvider } from "../../gen/detour/v1/config_pb.js";
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { createAnthropicProvider } from "../../src/providers/anthropic.js";
import type { Provider } from "../../src/providers/types.js";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { collect, failure } from "../helpers/provider-calls.js";
import { userRequest } from "../helpers/requests.js";

function provider(fake: VendorFake, version = ""): Provider {
  const pc = create(ProviderConfigSchema, { name: "claude", kind: { case: "anthropic", value: { baseUrl: fake.url, version, apiKey: { source: { case: "env", value: "K" } } } } });
  return createAnthropicProvider(pc, pc.kind.value as AnthropicProvider, { env: { K: "sk-ant-secret" } });
}

describe("Anthropic adapter against the fake", () => {
  let fake: VendorFake;
  let claude: Provider;
  before(async () => {
    fake = await startAnthropicFake();
    claude = provider(fake);
  });
  after(async () => {
    await claude.close?.();
    await fake.close();
  });

  test("text streams back; system apart, max_tokens set, x-api-key with 2023-06-01", async () => {
    fake.enqueue({ kind: "text", text: "Hello from Claude.", usage: { input: 30, output: 5, cached: 10 } });
    const req = userRequest("r", "hi", {
      messages: [
        { role: Role.SYSTEM, content: [{ part: { case: "text", value: "be kind" } }] },
        { role: Role.USER, content: [{ part: { case: "text", value: "hi" } }] },
      ],
    });
    const got = await collect(claude, req, "claude-haiku-4-5");
    assert.equal(got.text, "Hello from Claude.");
    assert.equal(got.finish, FinishReason.STOP);
    assert.equal(got.usage?.inputTokens, 30, "cached tokens are counted in the input");
    assert.equal(got.usage?.cachedInputTokens, 10);
    assert.equal(got.usage?.outputTokens, 5);
    const sent = fake.requests.at(-1);
    assert.equal(sent?.headers["x-api-key"], "sk-ant-secret");
    assert.equal(sent?.headers["anthropic-version"], "2023-06-01");
    assert.deepEqual(sent?.body, {
      model: "claude-haiku-4-5",
      max_tokens: 64000,
      system: "be kind",
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      stream: true,
    });
  });

  test("a newer anthropic-version sends the key as a bearer token", async () => {
    const modern = provider(fake, "2026-10-21");
    fake.enqueue({ kind: "text", text: "ok" });
    await collect(modern, userRequest("r"), "claude-haiku-4-5");
    const sent = fake.requests.at(-1);
    assert.equal(sent?.headers["authorization"], "Bearer sk-ant-secret");
    assert.equal(sent?.headers["x-api-key"], undefined);
    await modern.close?.();
  });

  test("tools, tool_use/tool_result, images, tool choice and sampling translate to Messages", async () => {
    fake.enqueue({ kind: "text", text: "done" });
    const req = userRequest("r", "x", {
      messages: [
        { role: Role.USER, content: [{ part: { case: "text", value: "see" } }, { part: { case: "image", value: { source: { case: "url", value: "data:image/png;base64,AQID" } } } }] },
        { role: Role.ASSISTANT, content: [{ part: { case: "text", value: "calling" } }], toolCalls: [{ id: "toolu_1", name: "lookup", arguments: '{"q":"x"}' }, { id: "toolu_2", name: "lookup", arguments: '{"q":"y"}' }] },
        { role: Role.TOOL, toolCallId: "toolu_1", content: [{ part: { case: "text", value: "42" } }] },
        { role: Role.TOOL, toolCallId: "toolu_2", content: [{ part: { case: "text", value: "43" } }] },
      ],
      tools: [{ name: "lookup", description: "find", parameters: { type: "object" } }],
      toolChoice: { choice: { case: "function", value: "lookup" } },
      parallelToolCalls: false,
      sampling: { temperature: 0.5, topK: 3, stop: ["###"], maxOutputTokens: 100 },
      user: "u-1",
    });
    await collect(claude, req, "claude-3-5-haiku");
    const body = fake.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual(body["messages"], [
      { role: "user", content: [{ type: "text", text: "see" }, { type: "image", source: { type: "base64", media_type: "image/png", data: "AQID" } }] },
      { role: "assistant", content: [{ type: "text", text: "calling" }, { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } }, { type: "tool_use", id: "toolu_2", name: "lookup", input: { q: "y" } }] },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: "42" },
          { type: "tool_result", tool_use_id: "toolu_2", content: "43" },
        ],
      },
    ]);
    assert.deepEqual(body["tools"], [{ name: "lookup", description: "find", input_schema: { type: "object" } }]);
    assert.deepEqual(body["tool_choice"], { type: "tool", name: "lookup", disable_parallel_tool_use: true });
    assert.equal(body["max_tokens"], 100);
    assert.equal(body["temperature"], 0.5);
    assert.equal(body["top_k"], 3);
    assert.deepEqual(body["stop_sequences"], ["###"]);
    assert.deepEqual(body["metadata"], { user_id: "u-1" });
  });

  test("streamed tool input (first partial_json empty) reassembles, parallel calls keep their order", async () => {
    fake.enqueue({ kind: "tool_calls", calls: [{ id: "toolu_a", name: "a", arguments: '{"city":"Paris"}' }, { id: "toolu_b", name: "b", arguments: '{"n":2}' }] });
    const got = await collect(claude, userRequest("r", "x", { tools: [{ name: "a" }, { name: "b" }], toolChoice: { choice: { case: "mode", value: ToolChoiceMode.AUTO } } }), "claude-haiku-4-5");
    assert.deepEqual(got.calls, [
      { id: "toolu_a", name: "a", arguments: '{"city":"Paris"}' },
      { id: "toolu_b", name: "b", arguments: '{"n":2}' },
    ]);
    assert.equal(got.finish, FinishReason.TOOL_CALLS);
  });

  test("parameters the Messages API lacks are refused, never dropped", async () => {
    const before = fake.requests.length;
    for (const [extra, what] of [
      [{ sampling: { seed: 1n } }, "seed"],
      [{ sampling: { presencePenalty: 0.5 } }, "presence_penalty"],
      [{ sampling: { verbosity: Verbosity.LOW } }, "verbosity"],
      [{ serviceTier: ServiceTier.FLEX }, "service_tier flex"],
    ] as const) {
      const err = await failure(claude, userRequest("r", "x", extra), "claude-haiku-4-5");
      assert.equal(err.reason, "CAPABILITY_MISMATCH");
      assert.match(err.message, new RegExp(what));
    }
    assert.equal(fake.requests.length, before, "nothing was sent");
  });

  // OutputConfig.format: JSONOutputFormat { type: "json_schema", schema }
  // (@anthropic-ai/sdk 1.13 resources/messages/messages.d.ts); the fake refuses any other shape.
  test("JSON schema and JSON mode go out as output_config.format; service_tier and safety_identifier translate", async () => {
    fake.enqueue({ kind: "text", text: '{"a":1}' }, { kind: "text", text: "{}" });
    const schema = { type: "object", properties: { a: { type: "number" } } };
    const got = await collect(claude, userRequest("r", "x", { responseFormat: { type: ResponseFormatType.JSON_SCHEMA, jsonSchema: { name: "s", schema } }, serviceTier: ServiceTier.DEFAULT, safetyIdentifier: "hash-1", user: "u" }), "claude-haiku-4-5");
    assert.equal(got.text, '{"a":1}');
    const body = fake.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual(body["output_config"], { format: { type: "json_schema", schema } });
    assert.equal(body["service_tier"], "standard_only");
    assert.deepEqual(body["metadata"], { user_id: "hash-1" });
    await collect(claude, userRequest("r", "x", { responseFormat: { type: ResponseFormatType.JSON_OBJECT } }), "claude-haiku-4-5");
    assert.deepEqual((fake.requests.at(-1)?.body as Record<string, unknown>)["output_config"], { format: { type: "json_schema", schema: { type: "object", additionalProperties: true } } });
    assert.equal(claude.describe("claude-sonnet-4-5")?.capabilities.jsonSchema, true, "the catalog knows Claude serves JSON schema");
  });

  test("errors: 529 overloaded, 429 with retry-after, auth, context length, mid-stream error event", async () => {
    const cases: [Parameters<VendorFake["enqueue"]>[0], string, number | undefined][] = [
      [{ kind: "error", status: 529 }, "UPSTREAM_OVERLOADED", undefined],
      [{ kind: "error", status: 429, headers: { "retry-after": "4" } }, "RATE_LIMITED", 4000],
      [{ kind: "error", status: 401 }, "UPSTREAM_AUTH", undefined],
      [{ kind: "error", status: 400, message: "prompt is too long: 210000 tokens > 200000 maximum" }, "CONTEXT_LENGTH_EXCEEDED", undefined],
      [{ kind: "error", status: 400, message: "Your credit balance is too low" }, "QUOTA_EXHAUSTED", undefined],
      [{ kind: "error", status: 400, message: "messages: bad" }, "UPSTREAM_BAD_REQUEST", undefined],
      [{ kind: "error", status: 404 }, "MODEL_NOT_FOUND", undefined],
      [{ kind: "error", status: 500 }, "UPSTREAM_ERROR", undefined],
      [{ kind: "stream_error", afterFrames: 3, code: "overloaded_error", reply: { kind: "text", text: "a b c d" } }, "UPSTREAM_OVERLOADED", undefined],
      [{ kind: "drop", afterFrames: 4, reply: { kind: "text", text: "a b c d e f" } }, "STREAM_DROPPED", undefined],
      [{ kind: "malformed", afterFrames: 2, reply: { kind: "text", text: "a b c" } }, "MALFORMED_RESPONSE", undefined],
    ];
    for (const [reply, reason, retryAfter] of cases) {
      fake.enqueue(reply);
      const err = await failure(claude, userRequest("r"), "claude-haiku-4-5");
      assert.equal(err.reason, reason, JSON.stringify(reply));
      assert.equal(err.retryAfterMs, retryAfter);
    }
  });

  test("an abort reaches the upstream", async () => {
    fake.enqueue({ kind: "hang" });
    const ctl = new AbortController();
    const aborted = fake.nextAbort();
    const arrived = fake.nextRequest();
    const call = collect(claude, userRequest("r"), "claude-haiku-4-5", ctl.signal);
    await arrived;
    ctl.abort();
    await assert.rejects(call);
    await aborted;
  });
});
