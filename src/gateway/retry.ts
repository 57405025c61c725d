/**
 * Retry mechanics: the decision table, exponential backoff with full jitter, and a retry budget
 * per route in the manner of gRPC retry throttling (a token bucket that
 * failures drain and successes refill; retries stop while it is at most
 * half full), so an outage cannot multiply the load on a failing upstream.
 */
import { REASONS, type Action, type GatewayError } from "../errors.ts";
import type { Plan, PlannedTarget, RetryPolicy } from "./plan.ts";

/**
 * The decision table after a failed attempt: the route's override for the
 * reason, else the reason's default; a retry only while the target's retries
 * and the route's budget last, a fallback after that.
 */
export function decide(failure: GatewayError, plan: Plan, target: PlannedTarget, retry: number, budget: RetryBudget): Action {
  const action = plan.retry.onError.get(failure.reason) ?? REASONS[failure.reason].action;
  if (failure.reason === "CANCELLED" || failure.reason === "DEADLINE_EXCEEDED") return "fail";
  if (action === "retry") return retry < target.retries && budget.canRetry() ? "retry" : "fallback";
  return action;
}

/** The wait before retry number `retry` (1 for the first retry). */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** A retry budget shared by all requests of one route. */
export interface RetryBudget {
  /** True while retries are allowed. */
  canRetry(): boolean;
  /** Records a failed attempt. */
  onFailure(): void;
  /** Records a successful attempt. */
  onSuccess(): void;
  /** Tokens left, for stats. */
  tokens(): number;
}

/** Creates a full bucket. */
export function createRetryBudget(maxTokens: number, tokenRatio: number): RetryBudget {
  let tokens = maxTokens;
  return {
    canRetry: () => tokens > maxTokens / 2,
    onFailure: () => {
      tokens = Math.max(0, tokens - 1);
    },
    onSuccess: () => {
      tokens = Math.min(maxTokens, tokens + tokenRatio);
    },
    tokens: () => tokens,
  };
}
