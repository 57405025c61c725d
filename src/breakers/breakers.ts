/**
 * Circuit breakers, one per provider and one per provider+model beneath it
 * (opossum; this is the only file that imports it). An attempt asks for
 * admission before it calls upstream: an open breaker — of the model or of
 * the whole provider — skips the target at once. Half-open lets a single
 * probe through. Only upstream faults count: 5xx, 429, timeouts, dropped
 * streams; never the caller's 4xx or a cancel. The provider-wide breaker
 * counts only what fails a whole provider: connections, credentials, quota.
 *
 * A stream ends long after it starts, so instead of wrapping a call, each
 * admission fires the breakers with a deferred promise the attempt settles
 * when it ends (success or failure).
 */
import type { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import CircuitBreaker from "opossum";
import { BreakerState, BreakerStatusSchema, type BreakerStatus } from "../../gen/detour/v1/admin_pb.js";
import type { BreakerConfig } from "../../gen/detour/v1/config_pb.js";
import type { TargetRef } from "../../gen/detour/v1/result_pb.js";
import { durationOr } from "../config/duration.ts";
import { GatewayError, type Reason } from "../errors.ts";

/** The outcome an admitted attempt reports. */
export interface Ticket {
  /** The attempt ended; `failure` is its error, if any. */
  settle(failure?: GatewayError): void;
}

/** Breakers for every target the gateway calls. */
export interface Breakers {
  /** Admits an attempt, or throws BREAKER_OPEN naming which breaker is open. */
  admit(ref: TargetRef): Ticket;
  /** The state of a target's breakers ("closed", "open", "half-open"). */
  state(ref: TargetRef): BreakerState;
  /** Every breaker created so far. */
  list(): BreakerStatus[];
  /** The breaker of "provider/model" ("provider/" for the provider-wide one), for observers. */
  events(key: string): EventEmitter | undefined;
  /** Stops the breakers' timers. */
  close(): void;
}

/** Reasons that say the upstream is unhealthy. */
const COUNTED: ReadonlySet<Reason> = new Set<Reason>([
  "RATE_LIMITED",
  "QUOTA_EXHAUSTED",
  "UPSTREAM_OVERLOADED",
  "UPSTREAM_UNAVAILABLE",
  "UPSTREAM_ERROR",
  "UPSTREAM_TIMEOUT",
  "CONNECTION_FAILED",
  "TTFT_TIMEOUT",
  "INTER_TOKEN_TIMEOUT",
  "STREAM_DROPPED",
  "MALFORMED_RESPONSE",
  "UPSTREAM_AUTH",
]);

/**
 * Reasons that say the provider as a whole is unhealthy (its endpoint, its
 * credentials, its account), not one model: only these feed the
 * provider-wide breaker, so one overloaded model cannot shut out its siblings.
 */
const PROVIDER_WIDE: ReadonlySet<Reason> = new Set<Reason>(["CONNECTION_FAILED", "UPSTREAM_AUTH", "QUOTA_EXHAUSTED"]);

/** True when a failure should count against the target's model breaker. */
export function countsAgainstBreaker(e: GatewayError): boolean {
  return COUNTED.has(e.reason);
}

interface Entry {
  readonly ref: TargetRef;
  readonly breaker: CircuitBreaker;
  /** When it last opened, for the admin view. */
  openedAt?: number;
}

const noop = () => undefined;

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Most model breakers kept; beyond it the least recently used is shut down. */
export const MAX_MODEL_BREAKERS = 1024;

/** Creates the breakers from config (defaults: 10s window, 5 calls, 50%, 30s). */
export function createBreakers(config: BreakerConfig | undefined, maxModelBreakers = MAX_MODEL_BREAKERS): Breakers {
  // In use order, oldest first. Each breaker holds timers and a rolling
  // window, and model names may come from callers (allowed_models "*"):
  // the model breakers are an LRU, so they cannot grow without bound.
  const entries = new Map<string, Entry>();
  let models = 0;
  const disabled = config?.disabled ?? false;
  const windowMs = durationOr(config?.window ?? "", 10_000);
  const resetMs = durationOr(config?.resetTimeout ?? "", 30_000);
  const volumeThreshold = config?.volumeThreshold || 5;
  const errorThresholdPercent = config?.errorThresholdPercent || 50;

  const entry = (provider: string, model: string): Entry => {
    const key = `${provider}/${model}`;
    let e = entries.get(key);
    // Recency matters only once eviction is near: below half the cap, a
    // hit costs no re-insertion (a hot breaker is refreshed soon after).
    if (e && model !== "" && models > maxModelBreakers / 2) {
      entries.delete(key);
      entries.set(key, e);
    }
    if (!e) {
      // opossum mutates its options object: build a fresh one per breaker.
      const breaker = new CircuitBreaker((p: Promise<void>) => p, {
        name: key,
        timeout: false,
        rollingCountTimeout: windowMs,
        rollingCountBuckets: 10,
        volumeThreshold,
        errorThresholdPercentage: errorThresholdPercent,
        resetTimeout: resetMs,
        enabled: !disabled,
      });
      breaker.on("failure", noop);
      const created: Entry = { ref: { $typeName: "detour.v1.TargetRef", provider, model }, breaker };
      breaker.on("open", () => (created.openedAt = Date.now()));
      entries.set(key, (e = created));
      if (model !== "" && ++models > maxModelBreakers) evictOldestModel();
    }
    return e;
  };

  const evictOldestModel = () => {
    for (const [key, old] of entries) {
      if (old.ref.model === "") continue;
      entries.delete(key);
      models--;
      // Frees its timers; an attempt still holding its ticket settles a breaker nobody reads.
      old.breaker.shutdown();
      return;
    }
  };

  const admits = (b: CircuitBreaker) => b.closed || b.pendingClose || !b.enabled;

  const stateOf = (b: CircuitBreaker): BreakerState =>
    b.opened ? BreakerState.OPEN : b.halfOpen ? BreakerState.HALF_OPEN : BreakerState.CLOSED;

  return {
    admit(ref) {
      const pair = [entry(ref.provider, ""), entry(ref.provider, ref.model)];
      const shut = pair.find((e) => !admits(e.breaker));
      if (shut) {
        const which = shut.ref.model ? `${ref.provider}/${ref.model}` : `provider ${ref.provider}`;
        // When the breaker lets its probe through: what a caller's retry-after says.
        const probeInMs = shut.openedAt === undefined ? resetMs : Math.max(0, shut.openedAt + resetMs - Date.now());
        throw new GatewayError("BREAKER_OPEN", `the circuit breaker of ${which} is open`, { hop: ref, retryAfterMs: probeInMs });
      }
      const [providerWide, model] = pair as [Entry, Entry];
      const provider = deferred();
      const own = deferred();
      providerWide.breaker.fire(provider.promise).catch(noop);
      model.breaker.fire(own.promise).catch(noop);
      return {
        settle(failure) {
          if (failure && countsAgainstBreaker(failure)) own.reject(failure);
          else own.resolve();
          if (failure && PROVIDER_WIDE.has(failure.reason)) provider.reject(failure);
          else provider.resolve();
        },
      };
    },
    state(ref) {
      const states = [entry(ref.provider, "").breaker, entry(ref.provider, ref.model).breaker].map(stateOf);
      return states.includes(BreakerState.OPEN) ? BreakerState.OPEN : states.includes(BreakerState.HALF_OPEN) ? BreakerState.HALF_OPEN : BreakerState.CLOSED;
    },
    list() {
      return [...entries.values()].map(({ ref, breaker, openedAt }) => {
        const stats = breaker.stats;
        const state = stateOf(breaker);
        // Not opossum's state.lastTimerAt: it is set when the breaker is built, not when it opens.
        return create(BreakerStatusSchema, {
          target: ref,
          state,
          ...(state === BreakerState.OPEN && openedAt ? { nextProbeTime: timestampFromMs(openedAt + resetMs) } : {}),
          windowCalls: stats.fires,
          windowFailures: stats.failures,
          window: durationFromMs(windowMs),
          volumeThreshold,
          errorThresholdPercent,
          resetTimeout: durationFromMs(resetMs),
          disabled,
          ...(openedAt ? { lastOpenTime: timestampFromMs(openedAt) } : {}),
        });
      });
    },
    events: (key) => entries.get(key)?.breaker,
    close() {
      for (const e of entries.values()) e.breaker.shutdown();
    },
  };
}
