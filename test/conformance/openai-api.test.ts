/**
 * The OpenAI-compatible API against the official OpenAPI spec: every unary
 * answer, every stream chunk and every error body Detour writes validates
 * against the spec's own schemas (see openai-spec.ts for the source commit).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { assertSchema } from "./openai-spec.js";

const KEY = "dtr-conformance-key";
const CONFIG = `${SIM_CONFIG}
  - name: tools
    targets: [{ model: sim/tools }]
  - name: hop-mid-stream
    targets: [{ model: sim/dropper }, { model: sim/fast }]
keys:
  - { name: team, sha256: ${createHash("sha256").update(KEY).digest("hex")} }
`.replace(
  "        - { name: echo, output: { kind: echo } }",
  `        - { name: echo, output: { kind: echo } }
        - { name: dropper, output: { kind: lorem, words: 10 }, faults: [{ kind: drop_mid_stream, rate: 1, after_tokens: 3 }] }`,
);

/** The JSON payloads of an SSE body's data lines, [DONE] left out. */
function chunksOf(sse: string): unknown[] {
  return sse
    .split("\n\n")
    .flatMap((frame) => frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)))
    .filter((d) => d !== "[DONE]")
    .map((d) => JSON.parse(d) as unknown);
}

describe("the OpenAI-compatible API validates against the official OpenAPI spec", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers },
      body: JSON.stringify(body),
    });

  test("a unary answer after a fallback is a CreateChatCompletionResponse with a chatcmpl- id", async () => {
    const res = await post({ model: "default", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { id: string };
    assertSchema("CreateChatCompletionResponse", body);
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(res.headers.get("x-request-id"), body.id);
  });

  test("a tool-call answer is a CreateChatCompletionResponse", async () => {
    const res = await post({
      model: "tools",
      messages: [{ role: "user", content: "weather?" }],
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    });
    assert.equal(res.status, 200);
    assertSchema("CreateChatCompletionResponse", await res.json());
  });

  for (const includeUsage of [false, true]) {
    test(`every stream chunk is a CreateChatCompletionStreamResponse (include_usage ${includeUsage})`, async () => {
      const res = await post({ model: "default", stream: true, messages: [{ role: "user", content: "hi" }], ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
      assert.equal(res.status, 200);
      const chunks = chunksOf(await res.text());
      assert.ok(chunks.length >= 3);
      chunks.forEach((c, i) => assertSchema("CreateChatCompletionStreamResponse", c, `chunk ${i}`));
    });
  }

  test("a stream that hops mid-answer keeps one id, created and model on every chunk; the model that finished is in the detour field", async () => {
    const res = await post({ model: "hop-mid-stream", stream: true, messages: [{ role: "user", content: "hi" }] });
    const chunks = chunksOf(await res.text()) as { id: string; created: number; model: string; detour?: { servedBy?: { model: string } } }[];
    chunks.forEach((c, i) => assertSchema("CreateChatCompletionStreamResponse", c, `chunk ${i}`));
    assert.deepEqual(new Set(chunks.map((c) => c.id)).size, 1);
    assert.deepEqual(new Set(chunks.map((c) => c.created)).size, 1);
    assert.deepEqual([...new Set(chunks.map((c) => c.model))], ["sim/dropper"]);
    assert.equal(chunks.at(-1)?.detour?.servedBy?.model, "fast");
  });

  test("error bodies are ErrorResponses, each with an x-request-id", async () => {
    const cases: [string, Promise<Response>, number][] = [
      ["bad parameter", post({ model: "default", messages: [{ role: "user", content: "x" }], temperature: "hot" }), 400],
      ["no key", fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 401],
      ["unknown model", post({ model: "no-such-route", messages: [{ role: "user", content: "x" }] }), 404],
      ["chain exhausted", post({ model: "exhausted", messages: [{ role: "user", content: "x" }] }), 429],
      ["unknown path", fetch(`${t.url}/v1/nothing/here`, { headers: { authorization: `Bearer ${KEY}` } }), 404],
    ];
    for (const [what, pending, status] of cases) {
      const res = await pending;
      assert.equal(res.status, status, what);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/, what);
      assertSchema("ErrorResponse", await res.json(), what);
      assert.ok(res.headers.get("x-request-id"), `${what}: x-request-id`);
    }
  });

  test("an unknown /v1 path names the path and what Detour serves", async () => {
    const res = await fetch(`${t.url}/v1/images/generations`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(res.status, 404);
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /\/v1\/images\/generations/);
    assert.match(error.message, /\/v1\/chat\/completions/);
  });

  test("models: the list is a ListModelsResponse and every listed id can be retrieved as a Model", async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const res = await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.ok(res.headers.get("x-request-id"));
    const list = (await res.json()) as { data: { id: string }[] };
    assertSchema("ListModelsResponse", list);
    for (const id of ["default", "sim/fast"]) {
      assert.ok(list.data.some((m) => m.id === id), id);
      const raw = await fetch(`${t.url}/v1/models/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(raw.status, 200, id);
      assertSchema("Model", await raw.json(), id);
      assert.equal((await client.models.retrieve(id)).id, id);
    }
    await assert.rejects(client.models.retrieve("nope"), OpenAI.NotFoundError);
  });
});
