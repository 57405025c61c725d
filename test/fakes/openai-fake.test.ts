import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startOpenAIFake } from "./openai-fake.js";
import type { VendorFake } from "./vendor-fake.js";

describe("the OpenAI fake, driven by the official openai SDK", () => {
  let fake: VendorFake;
  let client: OpenAI;
  before(async () => {
    fake = await startOpenAIFake();
    client = new OpenAI({ apiKey: "sk-test-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  });
  after(() => fake.close());

  test("unary text, with usage and what the SDK sent", async () => {
    fake.enqueue({ kind: "text", text: "Hi there.", usage: { input: 5, output: 3, cached: 2, reasoning: 1 } });
    const res = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] });
    assert.equal(res.choices[0]?.message.content, "Hi there.");
    assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 2);
    assert.equal(res.usage?.completion_tokens_details?.reasoning_tokens, 1);
    const req = fake.requests.at(-1);
    assert.equal(req?.path, "/v1/chat/completions");
    assert.equal(req?.headers["authorization"], "Bearer sk-test-fake");
    assert.equal(req?.body["model"], "gpt-4o-mini");
  });

  test("streamed text reassembles, with the usage chunk when asked", async () => {
    fake.enqueue({ kind: "text", text: "One two three four." });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "count" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: number | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage.total_tokens;
    }
    assert.equal(text, "One two three four.");
    assert.equal(finish, "stop");
    assert.equal(usage, 21);
  });

  test("parallel streamed tool calls reassemble in the SDK's stream helper", async () => {
    fake.enqueue({
      kind: "tool_calls",
      calls: [
        { name: "get_weather", arguments: '{"city":"Paris"}' },
        { name: "get_time", arguments: '{"tz":"Europe/Paris"}' },
      ],
    });
    const stream = client.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "weather and time" }],
      tools: [
        { type: "function", function: { name: "get_weather", parameters: { type: "object" } } },
        { type: "function", function: { name: "get_time", parameters: { type: "object" } } },
      ],
    });
    const final = await stream.finalChatCompletion();
    const calls = final.choices[0]?.message.tool_calls ?? [];
    assert.deepEqual(
      calls.map((c) => (c.type === "function" ? [c.function.name, JSON.parse(c.function.arguments)] : [])),
      [
        ["get_weather", { city: "Paris" }],
        ["get_time", { tz: "Europe/Paris" }],
      ],
    );
    assert.equal(final.choices[0]?.finish_reason, "tool_calls");
  });

  test("each error status surfaces as the SDK's typed error", async () => {
    const cases: [number, string | undefined, new (...a: never[]) => Error][] = [
      [400, "context_length_exceeded", OpenAI.BadRequestError],
      [401, "invalid_api_key", OpenAI.AuthenticationError],
      [404, "model_not_found", OpenAI.NotFoundError],
      [429, "rate_limit_exceeded", OpenAI.RateLimitError],
      [500, undefined, OpenAI.InternalServerError],
      [503, undefined, OpenAI.InternalServerError],
    ];
    for (const [status, code, cls] of cases) {
      fake.enqueue({ kind: "error", status, ...(code ? { code } : {}), headers: status === 429 ? { "retry-after": "7", "x-ratelimit-reset-requests": "7s" } : {} });
      const err = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
      assert.ok(err instanceof cls, `${status} → ${cls.name}, got ${String(err)}`);
      const apiErr = err as InstanceType<typeof OpenAI.APIError>;
      assert.equal(apiErr.status, status);
      assert.equal(apiErr.code ?? undefined, code);
      if (status === 429) assert.equal(apiErr.headers?.get("retry-after"), "7");
    }
  });

  test("an abort during a hang reaches the fake", async () => {
    fake.enqueue({ kind: "hang" });
    const ctl = new AbortController();
    const aborted = fake.nextAbort();
    const arrived = fake.nextRequest();
    const call = client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }, { signal: ctl.signal });
    await arrived;
    ctl.abort();
    await assert.rejects(call, OpenAI.APIUserAbortError);
    await aborted;
  });

  test("models.list works", async () => {
    const page = await client.models.list();
    assert.equal(page.data[0]?.id, "gpt-4o-mini");
  });
});

describe("the OpenAI fake refuses what the API refuses, through the openai SDK", () => {
  test("max_tokens for a reasoning model: 400 unsupported_parameter naming max_tokens", async () => {
    const fake = await startOpenAIFake();
    const client = new OpenAI({ apiKey: "sk-test-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 });
    try {
      // ChatCompletionCreateParamsBase.max_tokens (completions.d.ts): "not compatible with o-series models".
      for (const model of ["o3", "o4-mini", "gpt-5", "gpt-5-mini"]) {
        const err = await client.chat.completions.create({ model, max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
        assert.ok(err instanceof OpenAI.BadRequestError, `${model}: ${String(err)}`);
        assert.equal(err.param, "max_tokens");
        assert.equal(err.code, "unsupported_parameter");
      }
      const ok = await client.chat.completions.create({ model: "gpt-5", max_completion_tokens: 5, messages: [{ role: "user", content: "x" }] });
      assert.equal(ok.choices[0]?.finish_reason, "stop");
      const classic = await client.chat.completions.create({ model: "gpt-4o", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
      assert.equal(classic.object, "chat.completion");
    } finally {
      await fake.close();
    }
  });
});
