/**
 * The stream decoders hand events on a batch per upstream read: a burst of
 * tokens read at once is one batch (one turn of the engine, not one per
 * token), and the tokens decoded before a corrupt event still reach the
 * caller, before the error.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chunkEvents } from "../../src/providers/openai-response.js";
import { messageEvents } from "../../src/providers/anthropic-response.js";
import { streamEvents } from "../../src/providers/gemini-response.js";
import type { SseEvent } from "../../src/providers/sse.js";
import type { ProviderEvent } from "../../src/providers/types.js";
import { GatewayError } from "../../src/errors.js";

const hop = { $typeName: "detour.v1.TargetRef" as const, provider: "p", model: "m" };
const sse = (data: unknown, event = "message"): SseEvent => ({ event, data: typeof data === "string" ? data : JSON.stringify(data), id: undefined, retry: undefined });
async function* reads(...batches: SseEvent[][]) {
  for (const b of batches) yield b;
}

/**
 * Each vendor's decoder, its events for `words` tokens, the end of the
 * answer, and how many batches a burst read at once makes: Gemini's answer
 * ends with its body, not with an event, so its finish comes in a batch of
 * its own once the body ends.
 */
const VENDORS: [string, (events: AsyncIterable<readonly SseEvent[]>) => AsyncGenerator<ProviderEvent[]>, (words: string[]) => SseEvent[], SseEvent[], number][] = [
  [
    "OpenAI",
    (e) => chunkEvents(e, hop, "p", (t) => t),
    (words) => words.map((w) => sse({ choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })),
    [sse({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }), sse("[DONE]")],
    1,
  ],
  [
    "Anthropic",
    (e) => messageEvents(e, hop, "p", (t) => t),
    (words) => words.map((w) => sse({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } }, "content_block_delta")),
    [sse({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } }, "message_delta"), sse({ type: "message_stop" }, "message_stop")],
    1,
  ],
  [
    "Gemini",
    (e) => streamEvents(e, hop, (t) => t),
    (words) => words.map((w) => sse({ candidates: [{ content: { role: "model", parts: [{ text: w }] }, index: 0 }] })),
    [sse({ candidates: [{ content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP", index: 0 }] })],
    2,
  ],
];

describe("stream decoders hand events on a batch per read", () => {
  for (const [vendor, decode, tokens, end, expected] of VENDORS) {
    test(`${vendor}: a burst of 50 tokens and the end, read at once, is ${expected === 1 ? "one batch" : "one batch, and the end another"}`, async () => {
      const words = Array.from({ length: 50 }, (_, i) => `w${i} `);
      const batches: ProviderEvent[][] = [];
      for await (const b of decode(reads([...tokens(words), ...end]))) batches.push(b);
      assert.equal(batches.length, expected, `${batches.length} batches`);
      const text = batches[0]!.flatMap((e) => (e.type === "text" ? [e.text] : [])).join("");
      assert.equal(text, words.join(""), "every token in the first batch");
      assert.equal(batches.at(-1)!.at(-1)?.type, "finish");
    });

    test(`${vendor}: the tokens before a corrupt event are handed on, then the error`, async () => {
      const batches: ProviderEvent[][] = [];
      let error: unknown;
      try {
        for await (const b of decode(reads(tokens(["a "]), [...tokens(["b ", "c "]), sse("{not json")]))) batches.push(b);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof GatewayError && error.reason === "MALFORMED_RESPONSE", String(error));
      assert.deepEqual(batches.map((b) => b.map((e) => (e.type === "text" ? e.text : e.type))), [["a "], ["b ", "c "]]);
    });
  }
});
