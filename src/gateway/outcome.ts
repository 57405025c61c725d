/**
 * How a chain ends: the usage and done events of a success, or the chain's
 * error — the last failure's class, with the whole trail attached.
 */
import { AttemptOutcome, Decision, type Attempt } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import type { AttemptRun } from "./attempt.ts";
import { doneEvent, usageEvent, type GatewayEvent } from "./events.ts";
import { newCost } from "../literals.ts";

/** The closing events of a successful chain. */
export function successEvents(
  id: string,
  route: string,
  run: AttemptRun,
  attempts: Attempt[],
  answerUsd: number,
  wastedUsd: number,
): GatewayEvent[] {
  const done = doneEvent({
    id,
    finishReason: run.finish,
    usage: run.usage,
    cost: newCost(answerUsd, wastedUsd),
    servedBy: run.target.ref,
    route,
    attempts,
  });
  return run.usage ? [usageEvent(run.usage), done] : [done];
}

/** The chain's error: the last failure's class, with the whole trail. */
export function finalError(
  last: GatewayError,
  attempts: Attempt[],
  id: string,
  delivered?: { chars: number; toolCalls: number },
  why?: string,
): GatewayError {
  const failed = attempts.filter((a) => a.outcome !== AttemptOutcome.SUCCEEDED);
  let message = last.message;
  if (delivered) {
    message = `${last.message} after ${delivered.chars} characters and ${delivered.toolCalls} tool calls were delivered`;
  } else if (failed.length > 1) {
    const parts = failed.map((a) => `${a.target?.provider}/${a.target?.model}: ${a.reason} (${a.message})`);
    message = `all ${failed.length} attempts failed${why ? ` and ${why}` : ""}: ${parts.join("; ")}`;
  } else if (why) {
    message = `${last.message}; ${why}`;
  }
  // Waiting helps only when every failure was a rate limit or an open
  // breaker: pass on the last one's Retry-After (an upstream's, or when the
  // breaker lets its probe through).
  const allLimited = failed.length > 0 && failed.every((a) => a.reason === "RATE_LIMITED" || a.reason === "BREAKER_OPEN");
  const retryAfter = allLimited ? last.retryAfterMs : undefined;
  return new GatewayError(last.reason, message, {
    ...(last.hop ? { hop: last.hop } : {}),
    upstreamStatus: last.upstreamStatus,
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    attempts,
    id,
    ...(delivered ? { delivered } : {}),
    ...(last.field ? { field: last.field } : {}),
    cause: last,
  });
}

/** A failure before any target was called, with the trail of the targets set aside; the last one's decision is FAIL. */
export function withTrail(err: GatewayError, attempts: Attempt[], id: string): GatewayError {
  err.attempts = attempts;
  err.id = id;
  const last = attempts.at(-1);
  if (last) last.decision = Decision.FAIL;
  return err;
}
