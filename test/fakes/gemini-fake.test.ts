import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiError, GoogleGenAI } from "@google/genai";
import { startGeminiFake } from "./gemini-fake.js";
import type { VendorFake } from "./vendor-fake.js";

describe("the Gemini fake, driven by the official @google/genai SDK", () => {
  let fake: VendorFake;
  let ai: GoogleGenAI;
  before(async () => {
    fake = await startGeminiFake();
    ai = new GoogleGenAI({ apiKey: "AIza-test-key", httpOptions: { baseUrl: fake.url } });
  });
  after(() => fake.close());

  test("unary text and usage; the SDK sends its key header", async () => {
    fake.enqueue({ kind: "text", text: "Hallo.", usage: { input: 6, output: 2, reasoning: 3 } });
    const res = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
    assert.equal(res.text, "Hallo.");
    assert.equal(res.usageMetadata?.thoughtsTokenCount, 3);
    const req = fake.requests.at(-1);
    assert.match(req?.path ?? "", /^\/v1(beta)?\/models\/gemini-2\.5-flash:generateContent$/);
    assert.equal(req?.headers["x-goog-api-key"], "AIza-test-key");
  });

  test("a stream framed with CRLF reassembles, usage growing to the total", async () => {
    fake.enqueue({ kind: "text", text: "Streaming from Gemini now.", usage: { input: 4, output: 8 } });
    let text = "";
    let last = 0;
    for await (const chunk of await ai.models.generateContentStream({ model: "gemini-2.5-flash", contents: "hi" })) {
      text += chunk.text ?? "";
      const total = chunk.usageMetadata?.candidatesTokenCount ?? 0;
      assert.ok(total >= last, "usage totals are cumulative");
      last = total;
    }
    assert.equal(text, "Streaming from Gemini now.");
    assert.equal(last, 8);
    assert.equal(fake.requests.at(-1)?.query.get("alt"), "sse");
  });

  test("function calls arrive whole", async () => {
    fake.enqueue({ kind: "tool_calls", calls: [{ name: "get_weather", arguments: '{"city":"Paris"}' }] });
    const res = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "weather?" });
    assert.deepEqual(res.functionCalls?.map((c) => [c.name, c.args]), [["get_weather", { city: "Paris" }]]);
  });

  test("errors surface as ApiError with the status", async () => {
    for (const status of [400, 403, 404, 429, 500, 503]) {
      fake.enqueue({ kind: "error", status });
      const err = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "x" }).catch((e: unknown) => e);
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, status);
    }
  });
});

describe("the Gemini fake refuses what the API refuses, through @google/genai", () => {
  let fake: VendorFake;
  let ai: GoogleGenAI;
  before(async () => {
    fake = await startGeminiFake();
    ai = new GoogleGenAI({ apiKey: "AIza-test-key", httpOptions: { baseUrl: fake.url } });
  });
  after(() => fake.close());

  test("a function turn answered by the wrong number of functionResponse parts: 400 INVALID_ARGUMENT", async () => {
    // Content/Part/FunctionCall/FunctionResponse as in genai.d.ts.
    const contents = [
      { role: "user", parts: [{ text: "weather and time?" }] },
      { role: "model", parts: [{ functionCall: { name: "get_weather", args: {} } }, { functionCall: { name: "get_time", args: {} } }] },
      { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { sky: "sunny" } } }] },
    ];
    const err = await ai.models.generateContent({ model: "gemini-2.5-flash", contents }).catch((e: unknown) => e);
    assert.ok(err instanceof ApiError && err.status === 400, String(err));
    fake.enqueue({ kind: "text", text: "ok" });
    const both = [...contents.slice(0, 2), { role: "user", parts: [{ functionResponse: { name: "get_weather", response: {} } }, { functionResponse: { name: "get_time", response: {} } }] }];
    assert.equal((await ai.models.generateContent({ model: "gemini-2.5-flash", contents: both })).text, "ok");
  });

  test("thinkingBudget: 0 on 2.5 Pro and a budget over the model's largest are refused", async () => {
    // ThinkingConfig.thinkingBudget (genai.d.ts); limits from ai.google.dev/gemini-api/docs/thinking.
    for (const [model, thinkingBudget] of [["gemini-2.5-pro", 0], ["gemini-2.5-flash", 30000]] as const) {
      const err = await ai.models.generateContent({ model, contents: "x", config: { thinkingConfig: { thinkingBudget } } }).catch((e: unknown) => e);
      assert.ok(err instanceof ApiError && err.status === 400, `${model} ${thinkingBudget}: ${String(err)}`);
    }
    fake.enqueue({ kind: "text", text: "ok" });
    assert.equal((await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "x", config: { thinkingConfig: { thinkingBudget: 24576 } } })).text, "ok");
  });

  test("a path without an API version is a 404", async () => {
    const res = await fetch(`${fake.url}/models/gemini-2.5-flash:generateContent`, { method: "POST", body: "{}" });
    assert.equal(res.status, 404);
  });
});
