/**
 * The stream's chunks as OpenAI sends them: a content chunk (built from a
 * template, the hot path) is byte for byte what serialising the whole chunk
 * object gives, for any text, model, with or without usage; every chunk of a
 * stream carries the same `created`; the closing chunk's Done summary, built
 * by hand, is exactly what protobuf-es's toJson makes of it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { create, toJson, type DescMessage } from "@bufbuild/protobuf";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { DoneSchema } from "../../gen/detour/v1/gateway_pb.js";
import { AttemptSchema, CostSchema, TargetRefSchema, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { doneJson } from "../../src/server/openai/done-json.js";
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
          choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
          ...(includeUsage ? { usage: null } : {}),
        };
        assert.equal(out, `data: ${JSON.stringify(whole)}\n\n`);
      }),
      { seed: 20_261_203, numRuns: 500 },
    );
  });

  // The spec (openai-openapi, CreateChatCompletionStreamResponse): "Each chunk has the same ID", "the same timestamp".
  test("every chunk of a stream has the same id, created and model: a hop after the first chunk renames nothing", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const chunker = createChunker("cmpl-2", "route", false);
    chunker.target({ provider: "p", model: "first" });
    const first = parseFrame(chunker.role());
    const before = parseFrame(chunker.content("a"));
    t.mock.timers.tick(5_000);
    chunker.target({ provider: "p", model: "m" });
    const later = parseFrame(chunker.content("hi"));
    const last = parseFrame(chunker.toolCall(0, "c", "f", "{}"));
    for (const c of [before, later, last]) {
      assert.equal(c["created"], first["created"]);
      assert.equal(c["id"], "cmpl-2");
      assert.equal(c["model"], "p/first");
    }
  });
});

describe("the closing chunk's detour summary", () => {
  const targetRef = fc.record({ provider: fc.string(), model: fc.string() }).map((t) => create(TargetRefSchema, t));
  const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
  const usage = fc.record({ inputTokens: uint32, outputTokens: uint32, cachedInputTokens: uint32, reasoningTokens: uint32, totalTokens: uint32, cacheWriteTokens: uint32 }).map((u) => create(UsageSchema, u));
  const double = fc.oneof(fc.constant(0), fc.constant(-0), fc.double(), fc.constantFrom(NaN, Infinity, -Infinity));
  // Every value an enum has, and numbers it does not.
  const enumValue = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(99));
  const nanos = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999 }).map((n) => n * 1_000_000), fc.integer({ min: 0, max: 999_999 }).map((n) => n * 1000), fc.integer({ min: 0, max: 999_999_999 }));
  // In proto JSON's range (toJson refuses others; Detour's are always in it).
  const timestamp = fc.record({ seconds: fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }), nanos }).map((t) => create(TimestampSchema, t));
  const duration = fc
    .tuple(fc.oneof(fc.constantFrom(0n, 1n, -1n), fc.bigInt({ min: -315_576_000_000n, max: 315_576_000_000n })), nanos)
    .map(([seconds, n]) => create(DurationSchema, { seconds, nanos: seconds < 0n ? -n : seconds === 0n && n % 2 === 1 ? -n : n }));
  const attempt = fc
    .record(
      {
        index: uint32,
        target: targetRef,
        retry: uint32,
        outcome: enumValue,
        reason: fc.string(),
        message: fc.string(),
        decision: enumValue,
        startTime: timestamp,
        latency: duration,
        ttft: duration,
        usage,
        costUsd: double,
        upstreamStatus: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        backoff: duration,
        priceUnknown: fc.boolean(),
      },
      { requiredKeys: [] },
    )
    .map((a) => create(AttemptSchema, a));
  const done = fc
    .record(
      {
        id: fc.string(),
        finishReason: enumValue,
        usage,
        cost: fc.record({ answerUsd: double, wastedUsd: double, totalUsd: double }).map((c) => create(CostSchema, c)),
        servedBy: targetRef,
        route: fc.string(),
        attempts: fc.array(attempt, { maxLength: 4 }),
        replayed: fc.boolean(),
      },
      { requiredKeys: [] },
    )
    .map((d) => create(DoneSchema, d));

  test("the property covers every field of the messages doneJson encodes (a new field fails here first)", () => {
    const fields = (schema: DescMessage) => schema.fields.map((f) => f.localName);
    assert.deepEqual(fields(DoneSchema), ["id", "finishReason", "usage", "cost", "servedBy", "route", "attempts", "replayed"]);
    assert.deepEqual(fields(AttemptSchema), ["index", "target", "retry", "outcome", "reason", "message", "decision", "startTime", "latency", "ttft", "usage", "costUsd", "upstreamStatus", "backoff", "priceUnknown"]);
    assert.deepEqual(fields(UsageSchema), ["inputTokens", "outputTokens", "cachedInputTokens", "reasoningTokens", "totalTokens", "cacheWriteTokens"]);
    assert.deepEqual(fields(CostSchema), ["answerUsd", "wastedUsd", "totalUsd"]);
    assert.deepEqual(fields(TargetRefSchema), ["provider", "model"]);
  });

  test("property: it is exactly what toJson makes of the Done message, byte for byte", () => {
    fc.assert(
      fc.property(done, (d) => {
        assert.equal(JSON.stringify(doneJson(d)), JSON.stringify(toJson(DoneSchema, d)));
      }),
      { seed: 20_261_203, numRuns: 1000 },
    );
  });
});
