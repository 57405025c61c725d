import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { StreamCompleteResponseSchema } from "../../gen/detour/v1/gateway_pb.js";
import { AttemptOutcome, AttemptSchema, CostSchema, Decision, FinishReason, TargetRefSchema, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { attemptRecord, durationOf, newAttempt, timestampOf } from "../../src/gateway/attempt.js";
import { contentEvent, doneEvent, startedEvent, toolCallEvent } from "../../src/gateway/events.js";
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
  same(toolCallEvent(2, "call_1", "f", "{}"), create(StreamCompleteResponseSchema, { event: { case: "toolCall", value: { index: 2, id: "call_1", name: "f", arguments: "{}" } } }));
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
