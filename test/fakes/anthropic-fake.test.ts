import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { startAnthropicFake } from "./anthropic-fake.js";
import type { VendorFake } from "./vendor-fake.js";

describe("the Anthropic fake, driven by the official @anthropic-ai/sdk", () => {
  let fake: VendorFake;
  let client: Anthropic;
  before(async () => {
    fake = await startAnthropicFake();
    client = new Anthropic({ apiKey: "sk-ant-test", baseURL: fake.url, maxRetries: 0 });
  });
  after(() => fake.close());

  test("unary text and usage; the SDK sends its key and version", async () => {
    fake.enqueue({ kind: "text", text: "Bonjour.", usage: { input: 20, output: 4, cached: 5 } });
    const msg = await client.messages.create({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });
    assert.deepEqual(msg.content, [{ type: "text", text: "Bonjour." }]);
    assert.equal(msg.usage.cache_read_input_tokens, 5);
    assert.equal(msg.stop_reason, "end_turn");
    const req = fake.requests.at(-1);
    assert.equal(req?.path, "/v1/messages");
    assert.ok(req?.headers["authorization"] === "Bearer sk-ant-test" || req?.headers["x-api-key"] === "sk-ant-test");
    assert.match(String(req?.headers["anthropic-version"]), /^\d{4}-\d{2}-\d{2}$/);
  });

  test("a streamed answer and streamed tool input reassemble in finalMessage()", async () => {
    fake.enqueue({ kind: "text", text: "A streamed answer." });
    const text = await client.messages.stream({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).finalMessage();
    const first = text.content[0];
    assert.equal(first?.type === "text" ? first.text : undefined, "A streamed answer.");
    fake.enqueue({ kind: "tool_calls", calls: [{ name: "get_weather", arguments: '{"city":"Paris","unit":"celsius"}' }] });
    const tool = await client.messages
      .stream({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "weather" }], tools: [{ name: "get_weather", input_schema: { type: "object" } }] })
      .finalMessage();
    const block = tool.content[0];
    assert.equal(block?.type, "tool_use");
    assert.deepEqual(block?.type === "tool_use" ? block.input : undefined, { city: "Paris", unit: "celsius" });
    assert.equal(tool.stop_reason, "tool_use");
    assert.equal(tool.usage.output_tokens, 15);
  });

  test("HTTP errors surface as the SDK's typed errors, 529 as overloaded", async () => {
    const cases: [number, new (...a: never[]) => Error][] = [
      [400, Anthropic.BadRequestError],
      [401, Anthropic.AuthenticationError],
      [404, Anthropic.NotFoundError],
      [429, Anthropic.RateLimitError],
      [500, Anthropic.InternalServerError],
      [529, Anthropic.InternalServerError],
    ];
    for (const [status, cls] of cases) {
      fake.enqueue({ kind: "error", status, headers: status === 429 ? { "retry-after": "3" } : {} });
      const err = await client.messages.create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
      assert.ok(err instanceof cls, `${status} → ${cls.name}, got ${String(err)}`);
      assert.equal((err as InstanceType<typeof Anthropic.APIError>).status, status);
    }
  });

  test("an error event mid-stream surfaces from the stream", async () => {
    fake.enqueue({ kind: "stream_error", afterFrames: 3, code: "overloaded_error", reply: { kind: "text", text: "cut short here" } });
    const stream = client.messages.stream({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
    await assert.rejects(stream.finalMessage(), (e: unknown) => e instanceof Anthropic.APIError && /overloaded/i.test(String((e as Error).message)));
  });
});

describe("the Anthropic fake refuses what the API refuses, through the SDK", () => {
  let fake: VendorFake;
  let client: Anthropic;
  before(async () => {
    fake = await startAnthropicFake();
    client = new Anthropic({ apiKey: "sk-ant-test", baseURL: fake.url, maxRetries: 0 });
  });
  after(() => fake.close());

  test("temperature under the version the SDK sends (2026-10-21): 400 invalid_request_error", async () => {
    // MessageCreateParamsBase (SDK 1.13) has no temperature; sent as an extra body field.
    const params = { model: "claude-haiku-4-5", max_tokens: 10, messages: [{ role: "user" as const, content: "x" }], temperature: 0.5 };
    const err = await client.messages.create(params).catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, String(err));
    assert.match(err.message, /temperature: Extra inputs are not permitted/);
    assert.equal(fake.requests.at(-1)?.headers["anthropic-version"], "2026-10-21");
  });

  test("a tool_result whose tool_use is not in the previous message, and repeated tool_use ids: 400", async () => {
    const use = (id: string) => ({ role: "assistant" as const, content: [{ type: "tool_use" as const, id, name: "f", input: {} }] });
    const result = (id: string) => ({ role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: id, content: "ok" }] });
    const base = { model: "claude-haiku-4-5", max_tokens: 10 };
    const unmatched = await client.messages.create({ ...base, messages: [{ role: "user", content: "x" }, use("a"), result("b")] }).catch((e: unknown) => e);
    assert.ok(unmatched instanceof Anthropic.BadRequestError && /corresponding `tool_use` block/.test(unmatched.message), String(unmatched));
    const repeated = await client.messages.create({ ...base, messages: [{ role: "user", content: "x" }, use("a"), result("a"), use("a"), result("a")] }).catch((e: unknown) => e);
    assert.ok(repeated instanceof Anthropic.BadRequestError && /ids must be unique/.test(repeated.message), String(repeated));
    fake.enqueue({ kind: "text", text: "fine" });
    const ok = await client.messages.create({ ...base, messages: [{ role: "user", content: "x" }, use("a"), result("a"), use("b"), result("b")] });
    assert.equal(ok.stop_reason, "end_turn");
  });

  test("output_config.format must be a JSONOutputFormat ({type: 'json_schema', schema})", async () => {
    fake.enqueue({ kind: "text", text: "{}" });
    const base = { model: "claude-haiku-4-5", max_tokens: 10, messages: [{ role: "user" as const, content: "x" }] };
    await client.messages.create({ ...base, output_config: { format: { type: "json_schema", schema: { type: "object" } } } });
    const bad = { ...base, output_config: { format: { type: "json_object" } } } as unknown as Anthropic.MessageCreateParamsNonStreaming;
    const err = await client.messages.create(bad).catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, String(err));
  });
});

test("the Anthropic fake: a base URL with /v1 doubles the path, which the API answers 404", async () => {
  const fake = await startAnthropicFake();
  try {
    // ClientOptions.baseURL is the host; the SDK adds /v1/messages (client.d.ts, resources/messages).
    const client = new Anthropic({ apiKey: "k", baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const err = await client.messages.create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.NotFoundError, String(err));
  } finally {
    await fake.close();
  }
});
