/**
 * Retry mechanics: exponential backoff with full jitter, and a retry budget
 * per route in the manner of gRPC retry throttling (a token bucket that
 * failures drain and successes refill; retries stop while it is at most
 * half full), so an outage cannot multiply the load on a failing upstream.
 */
import type { RetryPolicy } from "./plan.ts";

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
