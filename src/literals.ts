/**
 * The small protobuf messages every request builds (usage, cost, target,
 * timestamps, durations), written as typed literals rather than through
 * create(): create() walks the schema on each call, several times the cost
 * of a literal, and the generated types make a literal that misses a field a
 * compile error. test/gateway/events.test.ts checks each equals what create()
 * (or the library's timestampFromMs/durationFromMs) makes.
 */
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import type { Cost, TargetRef, Usage } from "../gen/detour/v1/result_pb.js";

/** A target: provider and model. */
export function newTargetRef(provider: string, model: string): TargetRef {
  return { $typeName: "detour.v1.TargetRef", provider, model };
}

/** Token counts; the ones not given are 0. */
export function newUsage(u: Partial<Omit<Usage, "$typeName">>): Usage {
  return {
    $typeName: "detour.v1.Usage",
    inputTokens: u.inputTokens ?? 0,
    outputTokens: u.outputTokens ?? 0,
    cachedInputTokens: u.cachedInputTokens ?? 0,
    reasoningTokens: u.reasoningTokens ?? 0,
    totalTokens: u.totalTokens ?? 0,
    cacheWriteTokens: u.cacheWriteTokens ?? 0,
  };
}

/** What an answer cost, and what the failed hops before it wasted. */
export function newCost(answerUsd: number, wastedUsd: number): Cost {
  return { $typeName: "detour.v1.Cost", answerUsd, wastedUsd, totalUsd: answerUsd + wastedUsd };
}

/** timestampFromMs without create(). */
export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** durationFromMs without create(). */
export function durationOf(ms: number): Duration {
  const sign = ms < 0 ? -1 : 1;
  const abs = Math.abs(ms);
  const seconds = Math.floor(abs / 1000);
  const nanos = (abs - seconds * 1000) * 1_000_000;
  // A signed zero does not serialise: nanos is 0, never -0.
  return { $typeName: "google.protobuf.Duration", seconds: BigInt(seconds * sign), nanos: nanos === 0 ? 0 : nanos * sign };
}
