import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect as h2connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const KEY = "dtr-test-key-123";
const KEYS = `keys:
  - { name: team-a, sha256: ${createHash("sha256").update(KEY).digest("hex")} }
  - { name: limited, sha256: ${createHash("sha256").update("dtr-limited").digest("hex")}, routes: [slow] }
`;

const CONFIG = `${SIM_CONFIG}
  - name: json
    targets: [{ model: sim/json }]
  - name: cut
    commit_policy: fail
    targets: [{ model: sim/dropper }, { model: sim/fast }]
${KEYS}`.replace(
  "        - { name: echo, output: { kind: echo } }",
  `        - { name: echo, output: { kind: echo } }
        - { name: json, output: { kind: text, text: '{"city": "Paris", "temp": 21}' } }
        - { name: dropper, output: { kind: lorem, words: 10 }, faults: [{ kind: drop_mid_stream, rate: 1, after_tokens: 3 }] }`,
);

describe("OpenAI-compatible API, driven by the official openai SDK", () => {
  let t: TestApp;
  let client: OpenAI;
  before(async () => {
    t = await startApp(CONFIG);
    client = new OpenAI({ apiKey: KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
  });
  after(() => t.close());
  /** A streamed request read as raw HTTP, for what the SDK hides (status, headers, the SSE text). */
  const streamRaw = (model: string) =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: "x" }] }),
    });

  test("create: text, with Detour's headers and the fallback in the extension field", async () => {
    const { data, response } = await client.chat.completions.create({ model: "default", messages: [{ role: "user", content: "hi" }] }).withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.choices[0]?.message.content, "hello from fast");
    assert.equal(data.choices[0]?.finish_reason, "stop");
    assert.equal(data.model, "sim/fast");
    assert.ok(data.usage && data.usage.total_tokens > 0);
    assert.equal(response.headers.get("x-detour-provider"), "sim");
    assert.equal(response.headers.get("x-detour-model"), "fast");
    assert.equal(response.headers.get("x-detour-attempts"), "2");
    assert.match(response.headers.get("x-request-id") ?? "", /^chatcmpl-[0-9a-f]{32}$/);
    assert.ok(response.headers.get("x-detour-cost-usd"));
    const ext = (data as unknown as { detour: { attempts: { reason: string }[] } }).detour;
    assert.equal(ext.attempts[0]?.reason, "UPSTREAM_UNAVAILABLE");
  });

  test("the detour field is one shape: a unary answer's is the Done a stream ends with", async () => {
    type Detour = { route: string; servedBy: object; finishReason: string; cost: object; attempts: { target: object; outcome: string; reason?: string; decision: string }[] };
    const unary = (await client.chat.completions.create({ model: "default", messages: [{ role: "user", content: "hi" }] })) as unknown as { detour: Detour };
    const frames = (await (await streamRaw("default")).text()).split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)) as { detour?: Detour });
    const streamed = frames.find((f) => f.detour)?.detour;
    assert.ok(streamed);
    // Timings differ from one call to the next; the fields and the trail do not.
    const shape = (d: Detour) => ({
      fields: Object.keys(d).filter((k) => k !== "id" && k !== "usage").sort(),
      route: d.route,
      servedBy: d.servedBy,
      trail: d.attempts.map((a) => ({ fields: Object.keys(a).sort(), target: a.target, outcome: a.outcome, reason: a.reason, decision: a.decision })),
    });
    assert.deepEqual(shape(unary.detour), shape(streamed));
    assert.deepEqual(unary.detour.attempts[0]?.target, { provider: "sim", model: "failing" });
    assert.equal(unary.detour.attempts[0]?.outcome, "ATTEMPT_OUTCOME_FAILED");
    assert.equal(unary.detour.attempts[0]?.decision, "DECISION_FALLBACK");
  });

  test("create: tools come back as tool_calls", async () => {
    const res = await client.chat.completions.create({
      model: "sim/tools",
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    assert.equal(res.choices[0]?.finish_reason, "tool_calls");
    assert.equal(call?.type === "function" ? call.function.name : "", "get_weather");
    assert.deepEqual(JSON.parse(call?.type === "function" ? call.function.arguments : "{}"), { city: "Paris", unit: "c" });
  });

  test("create: json_schema output parses", async () => {
    const res = await client.chat.completions.create({
      model: "json",
      messages: [{ role: "user", content: "weather" }],
      response_format: { type: "json_schema", json_schema: { name: "weather", schema: { type: "object" }, strict: true } },
    });
    assert.deepEqual(JSON.parse(res.choices[0]?.message.content ?? ""), { city: "Paris", temp: 21 });
  });

  test("stream: text with include_usage; the SDK ignores the hop comment", async () => {
    const stream = await client.chat.completions.create({ model: "default", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage.total_tokens;
    }
    assert.equal(text, "hello from fast");
    assert.equal(finish, "stop");
    assert.ok(usage > 0);
  });

  test("stream: tool calls reassemble in the SDK's stream helper", async () => {
    const final = await client.chat.completions
      .stream({ model: "sim/tools", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }] })
      .finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type === "function" ? call.function.name : "", "lookup");
    assert.equal(final.choices[0]?.finish_reason, "tool_calls");
  });

  test("a bad request is a BadRequestError whose message names the field", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model: "default", messages: [] }, /^messages: must be a non-empty array/],
      [{ model: "default", messages: [{ role: "user", content: "x" }], n: 3 }, /^n: only n=1 is supported/],
      [{ model: "default", messages: [{ role: "user", content: "x" }], temperature: 9 }, /^temperature: must be/],
      [{ model: "default", messages: [{ role: "pirate", content: "x" }] }, /^messages\[0\]\.role: "pirate" is not one of/],
      [{ model: "default", messages: [{ role: "user", content: "x" }], logit_bias: { "1": 2 } }, /^logit_bias: not supported/],
      // Fields the engine names its own way are named as the caller sent them.
      [{ model: "default", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "ftp://example.com/cat.png" } }] }] }, /^messages\[0\]\.content\[0\]\.image_url\.url: "ftp:\/\/example\.com\/cat\.png" is not an http\(s\) URL or a base64 data: URL/],
      [{ model: "default", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png,rawbytes" } }] }] }, /^messages\[0\]\.content\[0\]\.image_url\.url: .* not an http\(s\) URL or a base64 data: URL/],
      [{ model: "default", messages: [{ role: "user", content: "x" }], tools: [1, 2].map(() => ({ type: "function", function: { name: "f", parameters: { type: "object" } } })) }, /^tools\[1\]\.function\.name: "f" is defined twice/],
    ];
    for (const [body, message] of cases) {
      const err = await client.chat.completions.create(body as never).catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.BadRequestError, `${JSON.stringify(body)} → ${String(err)}`);
      const text = err.message.replace(/^400 /, "");
      assert.match(text, message);
      assert.equal(err.param, text.slice(0, text.indexOf(": ")), "param names the same field as the message");
    }
  });

  test("an image as a data: URL of megabytes is served; one over 10,000,000 characters is refused, naming the field", async () => {
    const big = await startApp(SIM_CONFIG.replace("server: { drain_timeout: 2s }", "server: { drain_timeout: 2s, max_request_bytes: 24000000 }"));
    try {
      const ask = (chars: number) =>
        fetch(`${big.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "sim/echo", messages: [{ role: "user", content: [{ type: "text", text: "what is this" }, { type: "image_url", image_url: { url: `data:image/png;base64,${"A".repeat(chars - 22)}` } }] }] }),
        });
      assert.equal((await ask(9_999_999)).status, 200);
      const over = await ask(10_000_001);
      assert.equal(over.status, 400);
      const err = ((await over.json()) as { error: { message: string; param: string } }).error;
      assert.equal(err.param, "messages[0].content[1].image_url.url");
      assert.match(err.message, /is over 10000000 characters; send a smaller image/);
    } finally {
      await big.close();
    }
  });

  test("a chain exhausted by 429s is a RateLimitError with retry-after", async () => {
    const err = await client.chat.completions.create({ model: "exhausted", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.headers?.get("retry-after"), "3");
    assert.equal(err.code, "rate_limited");
  });

  test("an unknown model is a NotFoundError", async () => {
    const err = await client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.NotFoundError, String(err));
  });

  test("abort stops the call", async () => {
    const ctl = new AbortController();
    const call = client.chat.completions.create({ model: "sim/hanging", messages: [{ role: "user", content: "x" }] }, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    await assert.rejects(call, OpenAI.APIUserAbortError);
  });

  test("Idempotency-Key: a repeat returns the first answer, marked replayed", async () => {
    const first = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "x" }] }, { headers: { "Idempotency-Key": "idem-1" } }).withResponse();
    const again = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "x" }] }, { headers: { "Idempotency-Key": "idem-1" } }).withResponse();
    assert.equal(again.data.id, first.data.id);
    assert.equal(again.data.choices[0]?.message.content, first.data.choices[0]?.message.content);
    assert.equal(again.response.headers.get("x-detour-replayed"), "true");
    assert.equal(first.response.headers.get("x-detour-replayed"), null);
    const other = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "different" }] }, { headers: { "Idempotency-Key": "idem-1" } }).catch((e: unknown) => e);
    assert.ok(other instanceof OpenAI.UnprocessableEntityError, String(other));
  });

  test("over HTTP/2 (h2c, the port's other protocol), a body with or without a declared length is answered", async () => {
    const session = h2connect(t.url);
    try {
      const body = JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "héllo" }] });
      for (const declared of [true, false]) {
        const req = session.request({
          ":method": "POST",
          ":path": "/v1/chat/completions",
          "content-type": "application/json",
          authorization: `Bearer ${KEY}`,
          ...(declared ? { "content-length": Buffer.byteLength(body) } : {}),
        });
        // Without a declared length, the body comes in two DATA frames.
        const half = Math.floor(body.length / 2);
        req.write(body.slice(0, half));
        req.end(body.slice(half));
        let status = 0;
        let text = "";
        req.on("response", (h) => (status = Number(h[":status"])));
        req.setEncoding("utf8");
        for await (const c of req) text += c;
        assert.equal(status, 200, `declared length ${declared}: ${text}`);
        assert.equal((JSON.parse(text) as { object: string }).object, "chat.completion");
      }
    } finally {
      session.close();
    }
  });

  test("models.list shows routes (default among them) and models", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes("default"));
    assert.ok(ids.includes("sim/fast"));
  });

  test("a wrong key is a 401 AuthenticationError; a key limited to other routes is a 403", async () => {
    const wrong = new OpenAI({ apiKey: "nope", baseURL: `${t.url}/v1`, maxRetries: 0 });
    const err = await wrong.chat.completions.create({ model: "default", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.code, "invalid_api_key");
    const limited = new OpenAI({ apiKey: "dtr-limited", baseURL: `${t.url}/v1`, maxRetries: 0 });
    const denied = await limited.chat.completions.create({ model: "default", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(denied instanceof OpenAI.PermissionDeniedError, String(denied));
  });

  test("a stream failing under the fail policy ends with an SSE error event, not a cut", async () => {
    const res = await streamRaw("cut");
    assert.equal(res.status, 200);
    const raw = await res.text();
    assert.ok(raw.includes('"content":"lorem "'), "some content was delivered");
    assert.match(raw, /event: error\ndata: \{"error":\{"message":"the upstream closed the stream before it finished after \d+ characters and 0 tool calls were delivered","type":"server_error","param":null,"code":"stream_dropped"\}/);
    assert.ok(!raw.includes("[DONE]"), "no [DONE] after a failure");
    const stream = await client.chat.completions.create({ model: "cut", stream: true, messages: [{ role: "user", content: "x" }] });
    await assert.rejects(
      (async () => {
        for await (const _ of stream) void _;
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /stream_dropped|closed the stream/.test(String((e as Error).message)),
    );
  });

  test("a stream whose every target fails before any output is a plain HTTP error, as OpenAI's is", async () => {
    const res = await streamRaw("sim/failing");
    assert.equal(res.status, 503);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(res.headers.get("x-detour-provider"), null, "no target is named for an answer nobody gave");
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "upstream_unavailable");
    const err = await client.chat.completions.create({ model: "exhausted", stream: true, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
  });

  test("a stream's head names the target that answered, after a fallback before any output", async () => {
    const res = await streamRaw("default");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-detour-model"), "fast");
    const raw = await res.text();
    assert.ok(raw.startsWith('data: {"id":"chatcmpl-'), "the role chunk comes first");
    assert.match(raw.split("\n")[0] ?? "", /"model":"sim\/fast".*"role":"assistant"/, "and names the model that answers");
  });

  test("the raw stream shows hops as comments and Detour's facts in the last chunk", async () => {
    const res = await streamRaw("default");
    const raw = await res.text();
    assert.match(raw, /^: detour-hop \{"from":\{"provider":"sim","model":"failing"\},"to":\{"provider":"sim","model":"fast"\},"reason":"UPSTREAM_UNAVAILABLE"/m);
    assert.match(raw, /"finish_reason":"stop"\}\],"detour":\{"id":"chatcmpl-/);
    assert.ok(raw.trimEnd().endsWith("data: [DONE]"));
  });
});
