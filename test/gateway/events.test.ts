import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { StreamCompleteResponseSchema } from "../../gen/detour/v1/gateway_pb.js";
import { CommitPolicy, MessageSchema, Role } from "../../gen/detour/v1/chat_pb.js";
import { AttemptOutcome, AttemptSchema, CompleteResponseSchema, CostSchema, Decision, FinishReason, TargetRefSchema, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { attemptRecord, newAttempt } from "../../src/gateway/attempt.js";
import { collectResponse } from "../../src/gateway/collect.js";
import { contentEvent, doneEvent, hopEvent, startedEvent, toolCallEvent, usageEvent } from "../../src/gateway/events.js";
import { durationOf, newCost, newTargetRef, newUsage, timestampOf } from "../../src/literals.js";
import { GatewayError } from "../../src/errors.js";
import type { PlannedTarget } from "../../src/gateway/plan.js";

// The per-request messages are typed literals, not create(): each must be
// exactly what create() makes, and encode the same.
const same = (literal: Parameters<typeof toBinary<typeof StreamCompleteResponseSchema>>[1], made: typeof literal) => {
  assert.deepStrictEqual(literal, made);
  assert.deepStrictEqual(toBinary(StreamCompleteResponseSchema, literal), toBinary(StreamCompleteResponseSchema, made));
};
const ref = create(TargetRefSchema, { provider: "p", model: "m" });

test("the stream events built as literals equal what create() builds", () => {
  same(startedEvent("id1", "r", ref), create(StreamCompleteResponseSchema, { event: { case: "started", value: { id: "id1", route: "r", target: ref, replayed: false } } }));
  same(startedEvent("id1", "r", ref, true), create(StreamCompleteResponseSchema, { event: { case: "started", value: { id: "id1", route: "r", target: ref, replayed: true } } }));
  same(contentEvent("héllo"), create(StreamCompleteResponseSchema, { event: { case: "content", value: { text: "héllo" } } }));
  same(usageEvent(newUsage({ inputTokens: 3 })), create(StreamCompleteResponseSchema, { event: { case: "usage", value: { inputTokens: 3 } } }));
  same(toolCallEvent(2, "call_1", "f", "{}"), create(StreamCompleteResponseSchema, { event: { case: "toolCall", value: { index: 2, id: "call_1", name: "f", arguments: "{}" } } }));
  const to = create(TargetRefSchema, { provider: "q", model: "n" });
  for (const init of [
    { from: ref, to, reason: "UPSTREAM_UNAVAILABLE", attemptIndex: 1 },
    { from: ref, to, reason: "STREAM_DROPPED", attemptIndex: 2, rewind: true, policy: CommitPolicy.CONTINUE, deliveredChars: 10, keptToolCallIds: ["call_1"] },
  ]) {
    same(hopEvent(init), create(StreamCompleteResponseSchema, { event: { case: "hop", value: init } }));
  }
  const cost = create(CostSchema, { answerUsd: 1, totalUsd: 1 });
  const usage = create(UsageSchema, { inputTokens: 3, outputTokens: 4 });
  for (const u of [usage, undefined]) {
    const init = { id: "id1", finishReason: FinishReason.STOP, usage: u, cost, servedBy: ref, route: "r", attempts: [] };
    same(doneEvent(init), create(StreamCompleteResponseSchema, { event: { case: "done", value: { ...init, replayed: false, ...(u ? {} : { usage: undefined }) } } }));
  }
});

test("attempt records, timestamps and durations built as literals equal the library's", () => {
  for (const ms of [0, 1, 999, 1000, 1234.5, 1_764_000_000_123, -1, -1500]) {
    assert.deepStrictEqual(timestampOf(ms), timestampFromMs(ms), `timestamp ${ms}`);
    assert.deepStrictEqual(durationOf(ms), durationFromMs(ms), `duration ${ms}`);
  }
  const target = { ref, id: "p/m" } as unknown as PlannedTarget;
  const ok = newAttempt(target, 0, 0, 1_764_000_000_000);
  ok.firstTokenAt = 1_764_000_000_120;
  ok.endedAt = 1_764_000_000_450;
  ok.usage = create(UsageSchema, { inputTokens: 5, outputTokens: 7 });
  assert.deepStrictEqual(
    attemptRecord(ok, AttemptOutcome.SUCCEEDED, Decision.RETURN, 0.25),
    create(AttemptSchema, { index: 0, target: ref, outcome: AttemptOutcome.SUCCEEDED, decision: Decision.RETURN, startTime: timestampFromMs(1_764_000_000_000), latency: durationFromMs(450), ttft: durationFromMs(120), usage: ok.usage, costUsd: 0.25 }),
  );
  const failed = newAttempt(target, 1, 2, 1_764_000_000_000);
  failed.failure = new GatewayError("RATE_LIMITED", "slow down", { hop: ref, upstreamStatus: 429 });
  assert.deepStrictEqual(
    attemptRecord(failed, AttemptOutcome.FAILED, Decision.RETRY, 0, 1500),
    create(AttemptSchema, { index: 1, target: ref, retry: 2, outcome: AttemptOutcome.FAILED, reason: "RATE_LIMITED", message: "slow down", decision: Decision.RETRY, startTime: timestampFromMs(1_764_000_000_000), latency: durationFromMs(0), upstreamStatus: 429, backoff: durationFromMs(1500) }),
  );
});

test("usage, cost and target literals equal what create() builds", () => {
  assert.deepStrictEqual(newTargetRef("p", "m"), ref);
  assert.deepStrictEqual(newCost(0.5, 0.25), create(CostSchema, { answerUsd: 0.5, wastedUsd: 0.25, totalUsd: 0.75 }));
  assert.deepStrictEqual(newUsage({}), create(UsageSchema));
  const all = { inputTokens: 1, outputTokens: 2, cachedInputTokens: 3, reasoningTokens: 4, totalTokens: 5, cacheWriteTokens: 6 };
  assert.deepStrictEqual(newUsage(all), create(UsageSchema, all));
});

test("the unary answer folded from events equals what create() builds", async () => {
  const events = async function* () {
    yield startedEvent("id1", "r", ref);
    yield contentEvent("hel");
    yield toolCallEvent(0, "call_1", "f", '{"a":');
    yield contentEvent("lo");
    yield toolCallEvent(0, "", "", "1}");
    yield doneEvent({ id: "id1", finishReason: FinishReason.STOP, usage: newUsage({ inputTokens: 2 }), cost: newCost(1, 0), servedBy: ref, route: "r", attempts: [] });
  };
  const got = await collectResponse(inBatches(events()), () => 1_764_000_000_123);
  const want = create(CompleteResponseSchema, {
    id: "id1",
    message: create(MessageSchema, { role: Role.ASSISTANT, content: [{ part: { case: "text", value: "hello" } }], toolCalls: [{ id: "call_1", name: "f", arguments: '{"a":1}' }] }),
    finishReason: FinishReason.STOP,
    usage: newUsage({ inputTokens: 2 }),
    cost: newCost(1, 0),
    servedBy: ref,
    route: "r",
    createTime: timestampFromMs(1_764_000_000_123),
  });
  assert.deepStrictEqual(got, want);
  assert.deepStrictEqual(toBinary(CompleteResponseSchema, got), toBinary(CompleteResponseSchema, want));
  const bare = await collectResponse(inBatches((async function* () {
    yield doneEvent({ id: "id2", finishReason: FinishReason.LENGTH, usage: undefined, cost: newCost(0, 0), servedBy: ref, route: "", attempts: [] });
  })()), () => 0);
  assert.deepStrictEqual(bare, create(CompleteResponseSchema, { id: "id2", message: { role: Role.ASSISTANT }, finishReason: FinishReason.LENGTH, cost: newCost(0, 0), servedBy: ref, createTime: timestampFromMs(0) }));
});

/** Events as batches of one, as the engine may hand them on. */
async function* inBatches<T>(events: AsyncIterable<T>): AsyncGenerator<readonly T[]> {
  for await (const ev of events) yield [ev];
}
