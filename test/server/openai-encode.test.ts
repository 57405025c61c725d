/**
 * The stream's chunks as OpenAI sends them: a content chunk (built from a
 * template, the hot path) is byte for byte what serialising the whole chunk
 * object gives, for any text, model, with or without usage; every chunk of a
 * stream carries the same `created`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createChunker } from "../../src/server/openai/encode.js";

/** The data line of one SSE frame, parsed. */
function parseFrame(frame: string): Record<string, unknown> {
  assert.ok(frame.startsWith("data: ") && frame.endsWith("\n\n"), JSON.stringify(frame));
  return JSON.parse(frame.slice(6, -2)) as Record<string, unknown>;
}

describe("OpenAI stream chunks", () => {
  test("property: a content chunk is the whole chunk object serialised, for any text and target", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string(), fc.option(fc.record({ provider: fc.string(), model: fc.string() }), { nil: undefined }), fc.boolean(), (text, requested, target, includeUsage) => {
        const chunker = createChunker("cmpl-1", requested, includeUsage);
        chunker.target(target);
        const out = chunker.content(text);
        const created = parseFrame(out)["created"];
        const model = target ? `${target.provider}/${target.model}` : requested;
        const whole = {
          id: "cmpl-1",
          object: "chat.completion.chunk",
          created,
          model,
          system_fingerprint: null,
          choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
          ...(includeUsage ? { usage: null } : {}),
        };
        assert.equal(out, `data: ${JSON.stringify(whole)}\n\n`);
      }),
      { seed: 20_261_203, numRuns: 500 },
    );
  });

  test("every chunk of a stream has the same created, and a hop renames the model", async () => {
    const chunker = createChunker("cmpl-2", "route", false);
    const first = parseFrame(chunker.role());
    const before = parseFrame(chunker.content("a"));
    await new Promise((r) => setTimeout(r, 1100));
    chunker.target({ provider: "p", model: "m" });
    const later = parseFrame(chunker.content("hi"));
    assert.equal(later["created"], first["created"]);
    assert.equal(first["model"], "route");
    assert.equal(before["model"], "route");
    assert.equal(later["model"], "p/m");
  });
});
