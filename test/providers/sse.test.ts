import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createSseParser, parseSse, SseTooLargeError, SseTruncatedError, type SseEvent } from "../../src/providers/sse.js";

/** Parses `chunks` with the push parser; returns events, comments and truncation. */
function run(chunks: (string | Uint8Array)[], maxSize?: number) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = createSseParser((e) => events.push(e), { onComment: (c) => comments.push(c), ...(maxSize ? { maxSize } : {}) });
  for (const c of chunks) p.push(c);
  const { truncated } = p.end();
  return { events, comments, truncated };
}

const simple = (events: SseEvent[]) => events.map((e) => [e.event, e.data]);

const OPENAI = [
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Héllo ✓"},"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
  "data: [DONE]\n\n",
].join("");

const ANTHROPIC = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"日本語"}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join("");

const GEMINI = [
  'data: {"candidates":[{"content":{"parts":[{"text":"Hi "}],"role":"model"}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}\r\n\r\n',
  'data: {"candidates":[{"content":{"parts":[{"text":"there"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}\r\n\r\n',
].join("");

describe("SSE parser", () => {
  test("fields, multi-line data, comments, ids, retry and the default event type", () => {
    const { events, comments, truncated } = run([": keep-alive\nevent: greet\ndata: line one\ndata:line two\nid: 7\nretry: 1500\n\ndata\n\n"]);
    assert.deepEqual(events, [
      { event: "greet", data: "line one\nline two", id: "7", retry: 1500 },
      { event: "message", data: "", id: "7", retry: undefined },
    ]);
    assert.deepEqual(comments, ["keep-alive"]);
    assert.equal(truncated, false);
  });

  test("CRLF, CR and LF endings; a CR at a chunk's end and LF at the next's start are one ending", () => {
    assert.deepEqual(simple(run(["data: a\r\n\r\ndata: b\r\rdata: c\n\n"]).events), [["message", "a"], ["message", "b"], ["message", "c"]]);
    assert.deepEqual(simple(run(["data: a\r", "\n\r", "\ndata: b\r\n", "\r\n"]).events), [["message", "a"], ["message", "b"]]);
  });

  test("a leading BOM is dropped; unknown fields and bad retry values are ignored; an event with no data is not dispatched", () => {
    const { events } = run(["\uFEFFdata: x\nfoo: bar\nretry: soon\n\nevent: only-a-type\n\n"]);
    assert.deepEqual(events, [{ event: "message", data: "x", id: undefined, retry: undefined }]);
  });

  test("an id containing NUL is ignored", () => {
    assert.equal(run(["id: a\0b\ndata: x\n\n"]).events[0]?.id, undefined);
  });

  test("multi-byte characters split across chunks decode whole", () => {
    const bytes = new TextEncoder().encode("data: ✓日本\n\n");
    for (let i = 1; i < bytes.length; i++) {
      assert.deepEqual(simple(run([bytes.slice(0, i), bytes.slice(i)]).events), [["message", "✓日本"]], `split at ${i}`);
    }
  });

  for (const [name, sample] of [["OpenAI", OPENAI], ["Anthropic", ANTHROPIC], ["Gemini (CRLF)", GEMINI]] as const) {
    test(`a real ${name} sample split at every byte position, and byte by byte, parses the same`, () => {
      const bytes = new TextEncoder().encode(sample);
      const whole = run([bytes]);
      assert.ok(whole.events.length >= 2);
      assert.equal(whole.truncated, false);
      for (let i = 0; i <= bytes.length; i++) {
        assert.deepEqual(run([bytes.slice(0, i), bytes.slice(i)]).events, whole.events, `split at ${i}`);
      }
      assert.deepEqual(run([...bytes].map((b) => new Uint8Array([b]))).events, whole.events);
    });
  }

  test("a stream cut inside an event is reported; a clean end is not", async () => {
    async function* body(...parts: string[]) {
      for (const p of parts) yield new TextEncoder().encode(p);
    }
    const clean: SseEvent[] = [];
    for await (const e of parseSse(body("data: a\n\n", ": bye\n"))) clean.push(e);
    assert.equal(clean.length, 1);
    const seen: SseEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of parseSse(body("data: a\n\ndata: half"))) seen.push(e);
      })(),
      SseTruncatedError,
    );
    assert.equal(seen.length, 1, "events before the cut were delivered");
    await assert.rejects(
      (async () => {
        for await (const _ of parseSse(body("data: a\n\ndata: b\n"))) void _;
      })(),
      SseTruncatedError,
      "a complete line without the blank line is still mid-event",
    );
  });

  test("an oversized line or event is refused instead of buffered without bound", () => {
    assert.throws(() => run(["data: " + "x".repeat(100)], 64), SseTooLargeError);
    assert.throws(() => run(["data: aaaa\n".repeat(40)], 64), SseTooLargeError);
  });

  test("property: any events, any line endings, any chunking parse back to the same events", () => {
    const line = fc.string({ unit: "grapheme", maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ""));
    const event = fc.record({ type: fc.option(line.filter((s) => s !== "" && !s.startsWith(" ")), { nil: undefined }), lines: fc.array(line, { minLength: 1, maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 12 }), (events, eol, cuts) => {
        const text = events
          .map((e) => (e.type !== undefined ? `event:${e.type}${eol}` : "") + e.lines.map((l) => `data: ${l}${eol}`).join("") + eol)
          .join("");
        const bytes = new TextEncoder().encode(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let from = 0;
        for (const p of points) {
          chunks.push(bytes.slice(from, p));
          from = p;
        }
        chunks.push(bytes.slice(from));
        const got = run(chunks);
        assert.equal(got.truncated, false);
        assert.deepEqual(
          simple(got.events),
          events.map((e) => [e.type ?? "message", e.lines.join("\n")]),
        );
      }),
      { numRuns: 400 },
    );
  });

  test("property: hostile input never throws anything but the parser's own errors, and stays bounded", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), (chunks) => {
        try {
          const { events } = run(chunks, 256);
          for (const e of events) assert.ok(e.data.length <= 256);
        } catch (e) {
          assert.ok(e instanceof SseTooLargeError, String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});
