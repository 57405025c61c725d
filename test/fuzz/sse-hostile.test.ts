/**
 * The SSE parser against a hostile upstream, beyond the spec properties in
 * test/providers/sse.test.ts: through parseSse, any bytes in any chunks end
 * in events, SseTruncatedError or SseTooLargeError — nothing else — and
 * inputs shaped to trigger quadratic work finish (the test timeout is the
 * bound; timings belong in bench/).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createSseParser, parseSse, SseTooLargeError, SseTruncatedError, type SseEvent } from "../../src/providers/sse.js";

const SEED = 20_240_611;
const enc = new TextEncoder();

/** Drains parseSse over `chunks`; returns the events and the error it ended with, if any. */
async function drain(chunks: Iterable<Uint8Array | string>, maxSize?: number): Promise<{ events: SseEvent[]; error: unknown }> {
  async function* body() {
    yield* chunks;
  }
  const events: SseEvent[] = [];
  try {
    for await (const e of parseSse(body(), { maxSize, onComment: () => {} })) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

/** Bytes an upstream might send when it misbehaves: SSE syntax, broken UTF-8, NULs, lone CRs. */
const piece = fc.oneof(
  fc.constantFrom("data:", "data: ", "event:", "id:", "retry:", ":", "\n", "\r", "\r\n", "\n\n", "\uFEFF", "\0", "{", "[DONE]", "é", "😀").map((s) => enc.encode(s)),
  fc.constantFrom([0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f]).map((b) => Uint8Array.from(b)),
  fc.uint8Array({ minLength: 1, maxLength: 8 }),
);

/** Cuts one byte stream into chunks at arbitrary points; some chunks arrive as strings, as a fetch body never does but a caller may. */
const stream = fc.tuple(fc.array(piece, { maxLength: 50 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean()).map(([pieces, cuts, strings]) => {
  const bytes = Uint8Array.from(pieces.flatMap((p) => [...p]));
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: (Uint8Array | string)[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    const chunk = bytes.subarray(from, p);
    chunks.push(strings && chunks.length % 2 === 1 ? new TextDecoder().decode(chunk) : chunk);
    from = p;
  }
  return chunks;
});

describe("SSE parser with a hostile upstream", () => {
  test("property: through parseSse, any bytes in any chunks end cleanly or with SseTruncatedError / SseTooLargeError", { timeout: 20_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(stream, fc.option(fc.integer({ min: 1, max: 32 }), { nil: undefined }), async (chunks, maxSize) => {
        const { events, error } = await drain(chunks, maxSize);
        if (error !== undefined) assert.ok(error instanceof SseTruncatedError || error instanceof SseTooLargeError, `unexpected ${String(error)}`);
        for (const e of events) {
          assert.equal(typeof e.data, "string");
          assert.ok(!e.data.includes("\r"), "no CR survives in data");
          if (maxSize !== undefined) assert.ok(e.data.length <= maxSize, "no event over the limit is delivered");
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  test("property: an event cut anywhere before its blank line is reported as truncated, never delivered short", { timeout: 20_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, "")), fc.nat(), async (data, at) => {
        const bytes = enc.encode(`data: ${data}\n\n`);
        const cut = at % bytes.length;
        const { events, error } = await drain([bytes.subarray(0, cut)]);
        assert.deepEqual(events, []);
        if (cut > 0) assert.ok(error instanceof SseTruncatedError, `cut at ${cut}: ${String(error)}`);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  test("floods of line endings, comments, colon-less lines and empty data lines finish", { timeout: 20_000 }, () => {
    const mb = 2 * 1024 * 1024;
    // [flood, ends inside an event]: field lines with no blank line after them are a cut event.
    const floods: [string, boolean][] = [
      ["\r".repeat(mb), false],
      ["\n".repeat(mb), false],
      ["\r\n".repeat(mb / 2), false],
      [":\n".repeat(mb / 2), false],
      [`${"data:\n".repeat(mb / 6)}\n`, false],
      ["x\n".repeat(mb / 2), true],
      ["id: 1\nretry: 5\n".repeat(mb / 16), true],
    ];
    for (const [flood, cut] of floods) {
      let events = 0;
      const p = createSseParser(() => void events++);
      p.push(enc.encode(flood));
      assert.equal(p.end().truncated, cut, JSON.stringify(flood.slice(0, 8)));
      assert.equal(events, flood.startsWith("data:") ? 1 : 0);
    }
  });

  test("a line under the limit arriving one byte at a time is joined once, and one over it is refused", { timeout: 20_000 }, () => {
    const line = enc.encode(`data: ${"x".repeat(256 * 1024)}`);
    let got: SseEvent | undefined;
    const p = createSseParser((e) => void (got = e), { maxSize: 512 * 1024 });
    for (let i = 0; i < line.length; i++) p.push(line.subarray(i, i + 1));
    p.push("\n\n");
    p.end();
    assert.equal(got?.data.length, 256 * 1024);
    const small = createSseParser(() => {}, { maxSize: 1024 });
    assert.throws(() => {
      for (let i = 0; i < 4096; i++) small.push(line.subarray(i, i + 1));
    }, SseTooLargeError);
  });

  test("a 400-digit retry is ignored, and an id counts against the line limit", () => {
    const events: SseEvent[] = [];
    const p = createSseParser((e) => events.push(e));
    p.push(`retry: ${"9".repeat(400)}\nid: ${"i".repeat(1024 * 1024)}\ndata: x\n\n`);
    p.end();
    assert.equal(events[0]?.retry, undefined, "an unsafe retry is ignored");
    assert.equal(events[0]?.id?.length, 1024 * 1024);
    assert.throws(() => createSseParser(() => {}, { maxSize: 1024 }).push(`id: ${"i".repeat(2048)}\n`), SseTooLargeError);
  });
});
