import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createSseParser, parseSse, SseTooLargeError, SseTruncatedError, type SseEvent } from "../../src/providers/sse.js";

interface Parsed {
  events: SseEvent[];
  comments: string[];
  truncated: boolean;
}

const enc = new TextEncoder();
const bytesOf = (s: string): Uint8Array => enc.encode(s);

/** Runs the push parser over `chunks`. */
function run(chunks: Iterable<Uint8Array | string>, maxSize?: number): Parsed {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = createSseParser((e) => events.push(e), { onComment: (c) => comments.push(c), maxSize });
  for (const c of chunks) p.push(c);
  return { events, comments, ...p.end() };
}

const ev = (data: string, event = "message", id?: string, retry?: number): SseEvent => ({ event, data, id, retry });
const pairs = (events: SseEvent[]): [string, string][] => events.map((e) => [e.event, e.data]);

/** Cuts `bytes` at the given offsets (taken modulo length + 1). */
function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

const byteByByte = (bytes: Uint8Array): Uint8Array[] => Array.from(bytes, (b) => Uint8Array.of(b));

async function* body(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === "string" ? bytesOf(p) : p;
}

/** Drains parseSse, keeping the events delivered before any error. */
async function collect(src: AsyncIterable<Uint8Array | string>, maxSize?: number): Promise<{ events: SseEvent[]; error: unknown }> {
  const events: SseEvent[] = [];
  try {
    for await (const e of parseSse(src, { maxSize })) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

/**
 * A literal transcription of the WHATWG algorithm over the whole decoded
 * stream (regex line split, data buffer with trailing LF), for differential
 * tests. Also reports the largest line and data buffer, to predict limits.
 */
function reference(bytes: Uint8Array): Parsed & { maxLine: number; maxData: number } {
  let text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  const tail = lines.pop() ?? "";
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let data = "";
  let type = "";
  let lastId: string | undefined;
  let retry: number | undefined;
  let inEvent = false;
  let maxData = 0;
  for (const l of lines) {
    if (l === "") {
      inEvent = false;
      if (data !== "") events.push({ event: type || "message", data: data.slice(0, -1), id: lastId, retry });
      data = "";
      type = "";
      continue;
    }
    if (l.startsWith(":")) {
      comments.push(l.slice(1).replace(/^ /, ""));
      continue;
    }
    inEvent = true;
    const c = l.indexOf(":");
    const name = c < 0 ? l : l.slice(0, c);
    const value = c < 0 ? "" : l.slice(c + 1).replace(/^ /, "");
    if (name === "data") {
      data += value + "\n";
      maxData = Math.max(maxData, data.length - 1);
    } else if (name === "event") type = value;
    else if (name === "id" && !value.includes("\0")) lastId = value;
    else if (name === "retry" && /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) retry = Number(value);
  }
  const maxLine = Math.max(0, tail.length, ...lines.map((l) => l.length));
  return { events, comments, truncated: inEvent || (tail !== "" && !tail.startsWith(":")), maxLine, maxData };
}

// Real streams, as the vendors send them (ids shortened).
const OPENAI = [
  'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":"Héllo"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{"content":" wörld 👋"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n',
  'data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_f9f4fb6dbf","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":4,"total_tokens":23,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n',
  "data: [DONE]\n\n",
].join("");

const ANTHROPIC = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"こんにちは"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join("");

const GEMINI = [
  'data: {"candidates": [{"content": {"parts": [{"text": "Ça"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 8,"candidatesTokenCount": 1,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "8WbNaJuvEpa-nvgPq4_ZyQ4"}\r\n\r\n',
  'data: {"candidates": [{"content": {"parts": [{"text": " marche — 🚀"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 8,"candidatesTokenCount": 5,"totalTokenCount": 13},"modelVersion": "gemini-2.5-flash","responseId": "8WbNaJuvEpa-nvgPq4_ZyQ4"}\r\n\r\n',
  'data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 8,"candidatesTokenCount": 5,"totalTokenCount": 13},"modelVersion": "gemini-2.5-flash","responseId": "8WbNaJuvEpa-nvgPq4_ZyQ4"}\r\n\r\n',
].join("");

describe("SSE fields and dispatch", () => {
  test("data lines are joined with LF, and a blank line dispatches", () => {
    assert.deepEqual(run(["data: one\ndata: two\ndata: three\n\ndata: next\n\n"]).events, [ev("one\ntwo\nthree"), ev("next")]);
  });

  test("the event type defaults to message, and resets after each event", () => {
    const { events } = run(["event: greet\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\nevent: x\nevent: y\ndata: d\n\n"]);
    assert.deepEqual(pairs(events), [["greet", "a"], ["message", "b"], ["message", "c"], ["y", "d"]]);
  });

  test("one optional space after the colon is removed, no more", () => {
    const { events } = run(["data:x\n\ndata: x\n\ndata:  x\n\ndata:\n\ndata: \n\ndata: a:b: c\n\n"]);
    assert.deepEqual(events.map((e) => e.data), ["x", "x", " x", "", "", "a:b: c"]);
  });

  test("a line with no colon is a field with an empty value", () => {
    const { events } = run(["data\n\ndata\ndata\n\nevent\ndata: x\n\nid: 5\nid\ndata: y\n\n"]);
    assert.deepEqual(events, [ev(""), ev("\n"), ev("x"), ev("y", "message", "")]);
  });

  test("an event with no data line is not dispatched, but its type is reset", () => {
    const { events, truncated } = run(["event: only-type\nid: 1\n\nevent: x\n\ndata: later\n\n"]);
    assert.deepEqual(events, [ev("later", "message", "1")]);
    assert.equal(truncated, false);
  });

  test("unknown fields are ignored, and field names are case- and space-sensitive", () => {
    const { events } = run(["Data: no\ndata : no\n data: no\nfoo: bar\ndata: yes\n\nDATA: alone\n\n"]);
    assert.deepEqual(events, [ev("yes")]);
  });

  test("id persists across events, may be set empty, and is ignored when it contains NUL", () => {
    const { events } = run(["id: 1\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid: a:b\ndata: d\n\nid:\ndata: e\n\n"]);
    assert.deepEqual(
      events.map((e) => e.id),
      ["1", "1", "1", "a:b", ""],
    );
  });

  test("retry accepts ASCII digits only and persists, even when set in an event with no data", () => {
    const { events } = run([
      "retry: 1500\ndata: a\n\ndata: b\n\nretry: 250\n\ndata: c\n\n",
      `retry: 1.5\nretry: -1\nretry:  15\nretry:\nretry: 1e3\nretry: ٣\nretry: 12a\nretry: +5\nretry: 0x10\nretry: ${"9".repeat(400)}\ndata: d\n\n`,
      "retry: 0\ndata: e\n\n",
    ]);
    assert.deepEqual(
      events.map((e) => e.retry),
      [1500, 1500, 250, 250, 0],
    );
  });

  test("data keeps NUL, BOM and colons that are not at a line start", () => {
    assert.deepEqual(run(["data: \0\uFEFF:x\n\n"]).events, [ev("\0\uFEFF:x")]);
  });
});

describe("SSE comments", () => {
  test("comments reach onComment without their leading colon and one space, and are never events", () => {
    const { events, comments } = run([": keep-alive\n:ping\n:  two spaces\n:\ndata: a\n: inside an event\ndata: b\n\n"]);
    assert.deepEqual(comments, ["keep-alive", "ping", " two spaces", "", "inside an event"]);
    assert.deepEqual(events, [ev("a\nb")], "a comment neither dispatches nor splits an event");
  });

  test("parseSse without onComment yields only real events", async () => {
    const { events, error } = await collect(body(": OPENROUTER PROCESSING\n\n: ping\n\ndata: x\n\n"));
    assert.equal(error, undefined);
    assert.deepEqual(events, [ev("x")]);
  });
});

describe("SSE line endings", () => {
  test("LF, CRLF and CR endings all parse to the same events", () => {
    const lines = ["event: a", "data: 1", "data: 2", "", ": c", "data: 3", "", ""];
    const expected = [ev("1\n2", "a"), ev("3")];
    for (const eol of ["\n", "\r\n", "\r"]) {
      assert.deepEqual(run([lines.join(eol)]).events, expected, JSON.stringify(eol));
    }
  });

  test("LF then CR is two endings; CR then LF is one", () => {
    assert.deepEqual(run(["data: a\n\rdata: b\r\n\r\n"]).events, [ev("a"), ev("b")]);
    assert.deepEqual(run(["data: a\r\ndata: b\r\n\r\n"]).events, [ev("a\nb")]);
  });

  test("a CR ending one chunk and an LF starting the next are one line ending", () => {
    const expected = [ev("a\nb")];
    assert.deepEqual(run(["data: a\r", "\ndata: b\r", "\n\r", "\n"]).events, expected);
    assert.deepEqual(run(["data: a\r", "\ndata: b\r", "\n\r", "\n"].map(bytesOf)).events, expected);
    assert.deepEqual(run(["data: a\r", "", new Uint8Array(0), "\ndata: b\r\n\r\n"]).events, expected, "empty chunks in between");
    assert.deepEqual(run(["data: a\r", "data: b\r\n\r\n"]).events, expected, "a CR before a non-LF chunk eats nothing");
  });

  test("a stream ending in a CR blank line is complete without waiting for an LF", async () => {
    const { events, error } = await collect(body("data: a\r", "\r"));
    assert.equal(error, undefined);
    assert.deepEqual(events, [ev("a")]);
  });
});

describe("SSE bytes", () => {
  test("one leading BOM is dropped, even split across chunks; a second one or a later one is kept", () => {
    assert.deepEqual(run(["\uFEFFdata: x\n\n"]).events, [ev("x")]);
    const withBom = bytesOf("\uFEFFdata: x\n\n");
    for (let i = 0; i <= withBom.length; i++) assert.deepEqual(run(chunked(withBom, [1, i])).events, [ev("x")], `split at ${i}`);
    assert.deepEqual(run(["\uFEFF\uFEFFdata: x\n\ndata: y\n\n"]).events, [ev("y")], "the second BOM makes an unknown field");
    assert.deepEqual(run([bytesOf("\uFEFF\uFEFFdata: x\n\ndata: y\n\n")]).events, [ev("y")], "the same in bytes");
    assert.deepEqual(run(["data: x\n\n", "\uFEFFdata: y\n\n"]).events, [ev("x")], "a BOM is only special at the stream's start");
  });

  test("multi-byte characters split anywhere decode whole", () => {
    const text = "data: é✓日本語😀🇫🇷\n\n";
    const bytes = bytesOf(text);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 3) {
        assert.deepEqual(run(chunked(bytes, [i, j])).events, [ev("é✓日本語😀🇫🇷")], `split at ${i}, ${j}`);
      }
    }
    assert.deepEqual(run(byteByByte(bytes)).events, [ev("é✓日本語😀🇫🇷")]);
    assert.deepEqual(run([Buffer.from(text)]).events, [ev("é✓日本語😀🇫🇷")], "Node Buffers are accepted");
  });

  test("invalid UTF-8 becomes U+FFFD, and a string chunk ends a character left partial by bytes", () => {
    assert.deepEqual(run([Uint8Array.of(0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a)]).events, [ev("\uFFFD")]);
    assert.deepEqual(run(["data: ", Uint8Array.of(0xe2, 0x9c), "x\n\n"]).events, [ev("\uFFFDx")]);
  });

  test("a large event arriving in many small chunks arrives intact", () => {
    const big = "x".repeat(2 * 1024 * 1024);
    const bytes = bytesOf(`data: ${big}\ndata: ${big}\n\n`);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 97) chunks.push(bytes.subarray(i, i + 97));
    const { events } = run(chunks);
    assert.equal(events.length, 1);
    // Not assert.equal: its diff of two 4 MiB strings would take minutes.
    assert.ok(events[0]?.data === `${big}\n${big}`, `got ${events[0]?.data.length} characters starting ${JSON.stringify(events[0]?.data.slice(0, 20))}`);
  });
});

describe("SSE stream ends", () => {
  const clean = ["", "data: a\n\n", "data: a\n\n: keep-alive\n", "data: a\n\n: cut comm", "data: a\n\r", "event: x\n\n", "\uFEFF"];
  const cut = ["data: a", "data: a\n", "data: a\r\n", "data: a\n\nevent: x\n", "data: a\n\nfoo\n", "data: a\n\nid: 3", "data", "data: a\n\n\u00e9"];
  for (const s of clean) {
    test(`a stream ending ${JSON.stringify(s)} ended cleanly`, () => assert.equal(run([s]).truncated, false));
  }
  for (const s of cut) {
    test(`a stream ending ${JSON.stringify(s)} was cut mid-event`, () => assert.equal(run([s]).truncated, true));
  }

  test("a character cut short at the end counts as a cut line", () => {
    assert.equal(run([bytesOf("data: a\n\n"), Uint8Array.of(0xe2, 0x9c)]).truncated, true);
    assert.equal(run([bytesOf("data: a\n\n: "), Uint8Array.of(0xe2, 0x9c)]).truncated, false, "inside a comment, no event was lost");
  });

  test("parseSse returns at a clean end and throws SseTruncatedError after delivering what was complete", async () => {
    const ok = await collect(body("data: a\n\n", ": bye\n"));
    assert.equal(ok.error, undefined);
    assert.deepEqual(ok.events, [ev("a")]);

    const half = await collect(body("data: a\n\n", "data: b\ndata: hal"));
    assert.ok(half.error instanceof SseTruncatedError);
    assert.deepEqual(half.events, [ev("a")]);

    const noBlank = await collect(body("data: a\n\ndata: b\n"));
    assert.ok(noBlank.error instanceof SseTruncatedError, "a complete line without its blank line is still mid-event");
  });

  test("parseSse passes a body's own error through untouched", async () => {
    const reset = new Error("ECONNRESET");
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield bytesOf("data: a\n\n");
      throw reset;
    }
    const { events, error } = await collect(broken());
    assert.equal(error, reset);
    assert.deepEqual(events, [ev("a")]);
  });

  test("a consumer that stops early releases the body", async () => {
    let released = false;
    let pulled = 0;
    async function* upstream(): AsyncGenerator<Uint8Array> {
      try {
        // Bounded, so a parser that never yields [DONE] fails instead of hanging.
        while (pulled < 100) {
          pulled++;
          yield bytesOf("data: [DONE]\n\n");
        }
      } finally {
        released = true;
      }
    }
    for await (const e of parseSse(upstream())) if (e.data === "[DONE]") break;
    assert.equal(released, true);
    assert.equal(pulled, 1);
  });

  test("the parser refuses use after end", () => {
    const p = createSseParser(() => {});
    p.end();
    assert.throws(() => p.push("data: x\n\n"));
  });
});

describe("SSE size limits", () => {
  test("a line over the limit throws on the push that crosses it, however it is chunked", () => {
    const max = 64;
    const p = createSseParser(() => {}, { maxSize: max });
    p.push("data: ");
    for (let n = 6; n < max; n++) p.push("x");
    assert.throws(() => p.push("x"), SseTooLargeError, "the 65th character of one line");
    assert.throws(() => run([`data: ${"x".repeat(100)}\n\n`], max), SseTooLargeError, "a whole line in one chunk");
    assert.throws(() => run([`: ${"x".repeat(100)}\n`], max), SseTooLargeError, "comments count too");
  });

  test("exactly the limit is accepted; data over it across many lines throws", () => {
    assert.deepEqual(run([`data:${"x".repeat(59)}\n\n`], 64).events, [ev("x".repeat(59))]);
    assert.deepEqual(run([`data:${"x".repeat(64)}`], 69).truncated, true);
    assert.deepEqual(run(["data:aaaa\n".repeat(12) + "data:a\n\n"], 64).events, [ev(Array(12).fill("aaaa").join("\n") + "\na")]);
    assert.throws(() => run(["data:aaaa\n".repeat(14)], 64), SseTooLargeError);
  });

  test("parseSse delivers the events before an oversized one, then throws SseTooLargeError", async () => {
    const { events, error } = await collect(body(`data: ok\n\ndata: ${"x".repeat(200)}\n\n`), 128);
    assert.ok(error instanceof SseTooLargeError);
    assert.deepEqual(events, [ev("ok")]);
  });

  test("a nonsensical limit is refused up front", () => {
    for (const maxSize of [0, -1, 1.5, Number.NaN]) assert.throws(() => createSseParser(() => {}, { maxSize }), RangeError);
  });
});

describe("SSE with real vendor streams", () => {
  const samples = [
    {
      name: "OpenAI chat.completion.chunk",
      text: OPENAI,
      types: Array(6).fill("message"),
      check: (events: SseEvent[]) => {
        assert.equal(events.at(-1)?.data, "[DONE]");
        const content = events.slice(0, -1).map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "");
        assert.equal(content.join(""), "Héllo wörld 👋");
      },
    },
    {
      name: "Anthropic Messages",
      text: ANTHROPIC,
      types: ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
      check: (events: SseEvent[]) => {
        for (const e of events) assert.equal((JSON.parse(e.data) as { type: string }).type, e.event);
        assert.equal(events[3]?.data.includes("こんにちは"), true);
      },
    },
    {
      name: "Gemini alt=sse (CRLF framed)",
      text: GEMINI,
      types: Array(3).fill("message"),
      check: (events: SseEvent[]) => {
        const texts = events.map((e) => (JSON.parse(e.data) as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0]?.content.parts[0]?.text);
        assert.deepEqual(texts, ["Ça", " marche — 🚀", ""]);
      },
    },
  ];
  for (const s of samples) {
    test(`${s.name}: whole, split at every byte and byte by byte give the same events`, () => {
      const bytes = bytesOf(s.text);
      const whole = run([bytes]);
      assert.equal(whole.truncated, false);
      assert.deepEqual(
        whole.events.map((e) => e.event),
        s.types,
      );
      s.check(whole.events);
      for (let i = 0; i <= bytes.length; i++) {
        const split = run([bytes.subarray(0, i), bytes.subarray(i)]);
        assert.deepEqual(split, whole, `split at ${i}`);
      }
      assert.deepEqual(run(byteByByte(bytes)), whole, "byte by byte");
    });
  }
});

// A character of hostile text: anything, biased towards SSE syntax.
const hostileChar = fc.oneof(
  fc.constantFrom("\n", "\r", "\r\n", ":", " ", "\0", "\uFEFF", "7", "é", "日", "😀"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const noEol = (s: string): string => s.replace(/[\r\n]/g, "");
const oneLine = fc.string({ unit: hostileChar, maxLength: 12 }).map(noEol);

interface Block {
  before: string[];
  type: string | undefined;
  id: string | undefined;
  retry: string | undefined;
  data: string | undefined;
  unknown: [string, string] | undefined;
  mid: string | undefined;
  tight: boolean;
}

const block: fc.Arbitrary<Block> = fc.record({
  before: fc.array(oneLine, { maxLength: 2 }),
  type: fc.option(oneLine, { nil: undefined }),
  id: fc.option(oneLine, { nil: undefined }),
  retry: fc.option(fc.oneof(fc.nat().map(String), fc.constantFrom("", "1.5", "-1", "1e3", "٣", " 7", "0x10", "12:")), { nil: undefined }),
  data: fc.option(fc.string({ unit: hostileChar, maxLength: 24 }), { nil: undefined }),
  unknown: fc.option(fc.tuple(fc.constantFrom("Data", "data ", "ids", "x", "retry2", "EVENT"), oneLine), { nil: undefined }),
  mid: fc.option(oneLine, { nil: undefined }),
  tight: fc.boolean(),
});

/** Serialises blocks, recording where each comment and event block ends so any prefix's outcome is known. */
function serialise(blocks: readonly Block[], eol: string, bom: boolean) {
  const pieces: string[] = [];
  let offset = 0;
  const put = (s: string): number => {
    pieces.push(s);
    offset += enc.encode(s).length;
    return offset;
  };
  const bomEnd = bom ? put("\uFEFF") : 0;
  // Where the first character of a terminator ends: the line is complete there.
  const endLine = (s: string): number => {
    const at = put(s) + enc.encode(eol[0] ?? "").length;
    put(eol);
    return at;
  };
  const field = (name: string, value: string, tight: boolean): string => (tight && !value.startsWith(" ") ? `${name}:${value}` : `${name}: ${value}`);
  const comments: { text: string; end: number }[] = [];
  const framed: { b: Block; start: number | undefined; end: number }[] = [];
  for (const b of blocks) {
    for (const c of b.before) comments.push({ text: c, end: endLine(field("", c, b.tight)) });
    const fields: string[] = [];
    if (b.type !== undefined) fields.push(field("event", b.type, b.tight));
    if (b.id !== undefined) fields.push(field("id", b.id, b.tight));
    if (b.retry !== undefined) fields.push(`retry: ${b.retry}`);
    if (b.data !== undefined) for (const l of b.data.split(/\r\n|\r|\n/)) fields.push(field("data", l, b.tight));
    if (b.unknown !== undefined) fields.push(field(b.unknown[0], b.unknown[1], b.tight));
    const start = fields.length > 0 ? offset : undefined;
    fields.forEach((f, i) => {
      endLine(f);
      if (i === 0 && b.mid !== undefined) comments.push({ text: b.mid, end: endLine(field("", b.mid, b.tight)) });
    });
    framed.push({ b, start, end: endLine("") });
  }
  const bytes = enc.encode(pieces.join(""));
  assert.equal(bytes.length, offset);

  /** What a parser must report for the first `p` bytes. */
  const expect = (p: number): Parsed => {
    const events: SseEvent[] = [];
    let lastId: string | undefined;
    let retry: number | undefined;
    let truncated = p > 0 && p < bomEnd;
    for (const { b, start, end } of framed) {
      if (end > p) {
        if (start !== undefined && start < p) truncated = true;
        break;
      }
      if (b.id !== undefined && !b.id.includes("\0")) lastId = b.id;
      if (b.retry !== undefined && /^[0-9]+$/.test(b.retry) && Number.isSafeInteger(Number(b.retry))) retry = Number(b.retry);
      if (b.data !== undefined) events.push({ event: b.type || "message", data: b.data.replace(/\r\n|\r/g, "\n"), id: lastId, retry });
    }
    return { events, comments: comments.filter((c) => c.end <= p).map((c) => c.text), truncated };
  };
  return { bytes, expect };
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe("SSE properties", () => {
  test("property: any events, any line-ending style, any chunking parse back exactly; any prefix parses to the events it completes and reports a cut iff it stops mid-event", () => {
    fc.assert(
      fc.property(fc.array(block, { maxLength: 6 }), fc.constantFrom("\n", "\r\n", "\r"), fc.boolean(), cuts, fc.nat(), (blocks, eol, bom, cutAt, prefixAt) => {
        const { bytes, expect } = serialise(blocks, eol, bom);
        assert.deepEqual(run(chunked(bytes, cutAt)), expect(bytes.length));
        const p = prefixAt % (bytes.length + 1);
        assert.deepEqual(run(chunked(bytes.subarray(0, p), cutAt)), expect(p), `prefix of ${p} bytes`);
      }),
      { numRuns: 400 },
    );
  });

  const hostileBytes = fc.oneof(
    fc.array(fc.oneof(hostileChar, fc.constantFrom("data", "data:", "event:", "id:", "retry:", "\n\n", "\r\r")), { maxLength: 60 }).map((t) => enc.encode(t.join(""))),
    fc.uint8Array({ maxLength: 160 }),
    fc
      .array(fc.oneof(fc.constantFrom("data: ", "\r", "\n", "\uFEFF", ": ", "é").map((s) => enc.encode(s)), fc.uint8Array({ minLength: 1, maxLength: 3 })), { maxLength: 40 })
      .map((parts) => Uint8Array.from(parts.flatMap((p) => [...p]))),
  );

  test("property: hostile bytes in any chunking parse exactly as the spec's algorithm over the whole stream", () => {
    fc.assert(
      fc.property(hostileBytes, cuts, (bytes, cutAt) => {
        const { maxLine: _l, maxData: _d, ...want } = reference(bytes);
        const got = run(chunked(bytes, cutAt));
        assert.deepEqual(got, want);
        for (const e of got.events) {
          assert.ok(!e.data.includes("\r") && !/[\r\n]/.test(e.event), "no line terminator survives except joined data lines");
        }
      }),
      { numRuns: 500 },
    );
  });

  test("property: with a small limit, hostile bytes throw SseTooLargeError exactly when a line or data passes it, and nothing else", () => {
    fc.assert(
      fc.property(hostileBytes, cuts, fc.integer({ min: 1, max: 24 }), (bytes, cutAt, max) => {
        const ref = reference(bytes);
        const over = ref.maxLine > max || ref.maxData > max;
        let got: Parsed | undefined;
        try {
          got = run(chunked(bytes, cutAt), max);
        } catch (e) {
          assert.ok(e instanceof SseTooLargeError, `unexpected ${String(e)}`);
          assert.ok(over, "refused a stream within the limit");
          return;
        }
        assert.ok(!over, "accepted a line or event over the limit");
        const { maxLine: _l, maxData: _d, ...want } = ref;
        assert.deepEqual(got, want);
      }),
      { numRuns: 500 },
    );
  });
});
