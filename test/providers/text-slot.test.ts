/**
 * The text-delta fast path (text-slot.ts) is invisible: whatever the
 * vendor's chunks hold — any text, escaped any legal way, frames that change
 * mid-stream, chunks that are not text deltas, a frame with a second field
 * forced into the text's place — the decoders hand on exactly the events a
 * full parse of every chunk gives.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { chunkEvents } from "../../src/providers/openai-response.js";
import { messageEvents } from "../../src/providers/anthropic-response.js";
import type { SseEvent } from "../../src/providers/sse.js";
import type { ProviderEvent } from "../../src/providers/types.js";
import { TextSlot } from "../../src/providers/text-slot.js";

const SEED = 20_261_204;
const hop = { $typeName: "detour.v1.TargetRef" as const, provider: "p", model: "m" };
const sse = (data: string): SseEvent => ({ event: "message", data, id: undefined, retry: undefined });

/** A JSON string literal for `s`, escaped as some vendors do: every non-ASCII character (or all) as \u escapes. */
function literal(s: string, escapeAll: boolean): string {
  if (!escapeAll) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x80 && c >= 0x20 && c !== 0x22 && c !== 0x5c ? s[i] : `\\u${c.toString(16).padStart(4, "0")}`;
  }
  return `${out}"`;
}

/** One OpenAI chunk of a generated stream, and the events a full parse gives. */
type Piece = { data: string; events: ProviderEvent[] };

const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.constantFrom("word ", "", '"', "\\", '","finish_reason":"stop', "\u2028", "😀", "</s>"));
const openaiPiece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: text, escapeAll: fc.boolean(), model: fc.constantFrom("m", "word ", "other"), pad: fc.constantFrom("", ',"obfuscation":"x1"', ',"obfuscation":"yy22"') }).map(({ t, escapeAll, model, pad }) => ({
    data: `{"id":"c1","object":"chat.completion.chunk","created":1,"model":${JSON.stringify(model)},"choices":[{"index":0,"delta":{"content":${literal(t, escapeAll)}},"logprobs":null,"finish_reason":null}]${pad}}`,
    events: t === "" ? [] : [{ type: "text", text: t } as ProviderEvent],
  })) },
  { weight: 1, arbitrary: text.map((t) => ({ data: `{"id":"c1","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)},"role":"assistant"},"finish_reason":null}]}`, events: t === "" ? [] : [{ type: "text", text: t } as ProviderEvent] })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }).map((a) => ({ data: `{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(a)}}}]},"finish_reason":null}]}`, events: [{ type: "tool_call", index: 0, arguments: a } as ProviderEvent] })) },
  { weight: 1, arbitrary: text.map((t) => ({ data: `{"id":"c1","choices":[{"index":1,"delta":{"content":${JSON.stringify(t)}},"finish_reason":null}]}`, events: [] })) },
);

async function* reads(batches: SseEvent[][]) {
  for (const b of batches) yield b;
}

async function decoded(decode: (e: AsyncIterable<readonly SseEvent[]>) => AsyncGenerator<ProviderEvent[]>, batches: SseEvent[][]): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const b of decode(reads(batches))) out.push(...b);
  return out;
}

describe("the text-delta fast path", () => {
  test("OpenAI: any stream of chunks decodes to the events a full parse of each gives", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(openaiPiece, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 8 }), async (pieces, per) => {
        const events = [...pieces.map((p) => sse(p.data)), sse('{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'), sse("[DONE]")];
        const batches: SseEvent[][] = [];
        for (let i = 0; i < events.length; i += per) batches.push(events.slice(i, i + per));
        const got = await decoded((e) => chunkEvents(e, hop, "p", (t) => t), batches);
        const expected = pieces.flatMap((p) => p.events);
        // "stop" after tool calls reads as TOOL_CALLS (3), as on every vendor.
        assert.deepEqual(got, [...expected, { type: "finish", reason: expected.some((e) => e.type === "tool_call") ? 3 : 1 }]);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test("Anthropic: any run of text deltas, escaped any way, decodes to its texts", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ t: text, escapeAll: fc.boolean(), index: fc.constantFrom(0, 1) }), { minLength: 1, maxLength: 30 }), async (deltas) => {
        const events = [
          sse('{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}'),
          ...deltas.map(({ t, escapeAll, index }) => sse(`{"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":${literal(t, escapeAll)}}}`)),
          sse('{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}'),
          sse('{"type":"message_stop"}'),
        ];
        const got = await decoded((e) => messageEvents(e, hop, "p", (t) => t), [events]);
        const texts = got.flatMap((e) => (e.type === "text" ? [e.text] : []));
        assert.deepEqual(texts, deltas.map((d) => d.t).filter((t) => t !== ""));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test("a frame is learnt only where the text's literal is, and at most three tries a stream", () => {
    const read = (data: string) => {
      const v = JSON.parse(data) as { t?: unknown; other?: unknown };
      return typeof v.t === "string" && v.other === undefined ? v.t : undefined;
    };
    const slot = new TextSlot(read);
    // The literal is there twice: which one is the text cannot be told.
    slot.learn('{"id":"a","t":"a"}', "a");
    assert.equal(slot.match('{"id":"a","t":"b"}'), undefined);
    // The text escaped, and its plain literal elsewhere once: that is not the text's place.
    slot.learn('{"id":"hi","t":"\\u0068i"}', "hi");
    assert.equal(slot.match('{"id":"zz","t":"\\u0068i"}'), undefined);
    slot.learn('{"id":"x","t":"a"}', "a");
    assert.equal(slot.match('{"id":"x","t":"hello \\"q\\" \\u00e9"}'), 'hello "q" é');
    // Not one literal between the two halves: a full parse instead.
    assert.equal(slot.match('{"id":"x","t":"a","other":"b"}'), undefined);
    assert.equal(slot.match('{"id":"y","t":"a"}'), undefined);
    // A fourth try (those that found no frame count) is not made: the third frame stays.
    slot.learn('{"id":"y","t":"a"}', "a");
    assert.equal(slot.match('{"id":"y","t":"b"}'), undefined);
    assert.equal(slot.match('{"id":"x","t":"c"}'), "c");
  });
});
