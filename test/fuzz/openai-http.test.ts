/**
 * Hostile bodies against POST /v1/chat/completions on a running gateway:
 * every answer is a 200 or a 4xx in OpenAI's error shape naming the problem,
 * never a 5xx, a reset or a hang, and the server keeps serving.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { nestedArrays, nestedObjects } from "./json-paths.js";
import { mutatedChat, unknownEnum, validChat } from "./openai-arbitraries.js";

const SEED = 20_240_611;
/** The default of server.max_request_bytes. */
const LIMIT = 8 * 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Asserts an OpenAI error body; an invalid request must name its field first in the message. */
function assertError(a: Answer, status?: number): OpenAIError["error"] {
  assert.ok(a.status >= 400 && a.status < 500, `expected a 4xx, got ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
  if (status !== undefined) assert.equal(a.status, status, JSON.stringify(a.body));
  const e = (a.body as OpenAIError).error;
  assert.equal(typeof e?.message, "string", JSON.stringify(a.body));
  assert.equal(typeof e.type, "string");
  assert.equal(typeof e.code, "string");
  assert.ok(e.param === null || typeof e.param === "string");
  if (e.code === "invalid_request") {
    assert.ok(e.param, `no param: ${e.message}`);
    assert.ok(e.message.startsWith(`${e.param}: `), `the message does not lead with the field: ${e.message}`);
  }
  return e;
}

describe("OpenAI HTTP API with hostile bodies", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(SIM_CONFIG);
  });
  after(() => t.close());

  async function post(body: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = { "content-type": "application/json" }): Promise<Answer> {
    const res = await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers, body, duplex: "half", signal: AbortSignal.timeout(15_000) } as RequestInit);
    const text = await res.text();
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) return { status: res.status, body: text };
    return { status: res.status, body: JSON.parse(text) as unknown };
  }

  async function stillServing(): Promise<void> {
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    const ok = await post(JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "hi" }] }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  }

  test("property: any body is answered with a 200 or an OpenAI 4xx naming the problem, never a 5xx", { timeout: 30_000 }, async () => {
    const enc = new TextEncoder();
    const bodies = fc.oneof(
      validChat.map((b) => enc.encode(JSON.stringify(b))),
      mutatedChat.map((m) => enc.encode(JSON.stringify(m.body))),
      fc.jsonValue({ maxDepth: 4 }).map((v) => enc.encode(JSON.stringify(v))),
      fc.string({ unit: "binary", maxLength: 64 }).map((s) => enc.encode(s)),
      fc.uint8Array({ maxLength: 128 }),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const a = await post(body);
        if (a.status !== 200) assertError(a);
      }),
      { seed: SEED, numRuns: 120 },
    );
    await stillServing();
  });

  test("a body over the size limit is a 413 naming the limit, declared or chunked, and the server keeps serving", { timeout: 20_000 }, async () => {
    const e = assertError(await post("x".repeat(LIMIT + 1)), 413);
    assert.equal(e.message, `body: is over the limit of ${LIMIT} bytes (server.max_request_bytes)`);
    assert.equal(e.param, "body");
    await stillServing();
    // No content-length: the limit is found mid-read, and the connection must not be left half-read.
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let n = 0; n <= LIMIT / chunk.length; n++) c.enqueue(chunk);
        c.close();
      },
    });
    assertError(await post(chunked), 413);
    await stillServing();
    await stillServing();
  });

  /** Sends a request by hand: the head, then each piece of the body `gapMs` apart; resolves with what came back. */
  async function raw(head: string, pieces: Buffer[], gapMs: number, leave = false): Promise<string> {
    const sock = connect(Number(new URL(t.url).port), "127.0.0.1");
    await once(sock, "connect");
    let got = "";
    sock.on("data", (d: Buffer) => (got += d.toString()));
    sock.write(head);
    for (const p of pieces) {
      await new Promise((r) => setTimeout(r, gapMs));
      sock.write(p);
    }
    if (leave) {
      await new Promise((r) => setTimeout(r, gapMs));
      sock.destroy();
      return "";
    }
    await Promise.race([once(sock, "end"), new Promise((r) => setTimeout(r, 10_000))]);
    sock.destroy();
    return got;
  }

  test("a declared-length body that arrives in pieces, a character split between them, is read whole", { timeout: 20_000 }, async () => {
    const body = Buffer.from(JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "café, s'il vous plaît" }] }));
    const cut = body.indexOf(Buffer.from("é")) + 1;
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    const answer = await raw(head, [body.subarray(0, cut), body.subarray(cut)], 20);
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /"object":"chat\.completion"/);
  });

  test("a client that declares a length and leaves mid-body is forgotten: no answer owed, the server keeps serving", { timeout: 20_000 }, async () => {
    const head = "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    await Promise.all(Array.from({ length: 20 }, () => raw(head, [Buffer.from('{"model":"sim/fast","mess')], 10, true)));
    await stillServing();
  });

  test("JSON nested 100k deep is a 400, not a stack overflow", { timeout: 20_000 }, async () => {
    assert.equal(assertError(await post(nestedArrays(100_000)), 400).message, "body: must be an object, got an array");
    assert.equal(assertError(await post("[".repeat(100_000)), 400).message, "body: is not valid JSON");
    const deepSchema = `{"model":"sim/fast","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${nestedObjects(100_000)}}}]}`;
    assert.equal(assertError(await post(deepSchema), 400).param, "tools[0].function.parameters");
    const deepMeta = `{"model":"sim/fast","messages":[{"role":"user","content":"hi"}],"metadata":{"k":${nestedArrays(100_000)}}}`;
    assert.equal(assertError(await post(deepMeta), 400).param, "metadata.k");
    await stillServing();
  });

  test("property: invalid UTF-8 anywhere in the body is a 400 saying so", { timeout: 20_000 }, async () => {
    const bad = fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80]);
    await fc.assert(
      fc.asyncProperty(validChat, bad, fc.nat(), async (chat, bytes, at) => {
        const text = Buffer.from(JSON.stringify(chat));
        const cut = at % (text.length + 1);
        const e = assertError(await post(Buffer.concat([text.subarray(0, cut), Buffer.from(bytes), text.subarray(cut)])), 400);
        assert.equal(e.message, "body: is not valid UTF-8");
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test("property: a truncated body is a 400 saying it is not JSON", { timeout: 20_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(validChat, fc.nat(), async (chat, at) => {
        const text = JSON.stringify(chat);
        assert.equal(assertError(await post(text.slice(0, 1 + (at % (text.length - 1)))), 400).message, "body: is not valid JSON");
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test("an empty body, and a compressed one, are 400s saying so and what to send instead", async () => {
    assert.equal(assertError(await post(""), 400).message, "body: is empty: send the chat request as a JSON object");
    const chat = JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "hi" }] });
    const gz = assertError(await post(gzipSync(chat), { "content-type": "application/json", "content-encoding": "gzip" }), 400);
    assert.equal(gz.message, 'content-encoding: "gzip" is not supported: send the body uncompressed');
    assert.equal(gz.param, "content-encoding");
    assert.equal((await post(chat, { "content-type": "application/json", "content-encoding": "identity" })).status, 200);
  });

  test("a body not declared as JSON is a 415 naming the header and the fix (what a cross-site page sends without a preflight)", async () => {
    const chat = JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "hi" }] });
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream", "image/png"]) {
      const e = assertError(await post(chat, { "content-type": type }), 415);
      assert.equal(e.param, "content-type");
      assert.match(e.message, /send the header "Content-Type: application\/json"/);
    }
    assert.equal(assertError(await post(chat, {}), 415).param, "content-type", "no content-type (a typeless Blob)");
    for (const type of ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]) assert.equal((await post(chat, { "content-type": type })).status, 200, type);
  });

  test("a tool with a 1–5 MB schema is refused in bounded time with a clear 400; a smaller one is served", { timeout: 30_000 }, async () => {
    const schemaOf = (bytes: number) => ({
      type: "object",
      properties: Object.fromEntries(Array.from({ length: Math.ceil(bytes / 100) }, (_, i) => [`p${i}`, { type: "string", description: "d".repeat(70) }])),
    });
    const chat = (bytes: number) => JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "hi" }], tools: [{ type: "function", function: { name: "f", parameters: schemaOf(bytes) } }] });
    for (const mb of [1, 5]) {
      const body = chat(mb * 1024 * 1024);
      assert.ok(body.length > mb * 1024 * 1024 && body.length < LIMIT);
      const e = assertError(await post(body), 400);
      assert.equal(e.code, "capability_mismatch");
      assert.match(e.message, /context window/);
    }
    assert.equal((await post(chat(200 * 1024))).status, 200);
  });

  const enumCases: [string, (v: string) => object, readonly string[], string][] = [
    ["messages[0].role", (v) => ({ messages: [{ role: v, content: "hi" }] }), ["system", "developer", "user", "assistant", "tool"], "messages[0].role"],
    ["reasoning_effort", (v) => ({ reasoning_effort: v }), ["none", "minimal", "low", "medium", "high", "xhigh"], "reasoning_effort"],
    ["tool_choice", (v) => ({ tool_choice: v }), ["auto", "none", "required"], "tool_choice"],
    ["response_format.type", (v) => ({ response_format: { type: v } }), ["text", "json_object", "json_schema"], "response_format.type"],
  ];
  for (const [label, make, valid, param] of enumCases) {
    test(`property: an unknown ${label} is a 400 naming it`, { timeout: 20_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(unknownEnum(valid), async (v) => {
          const body = { model: "sim/fast", messages: [{ role: "user", content: "hi" }], ...make(v) };
          assert.equal(assertError(await post(JSON.stringify(body)), 400).param, param);
        }),
        { seed: SEED, numRuns: 25 },
      );
    });
  }
});
