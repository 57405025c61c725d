/**
 * Per-key budgets: requests per minute and US dollars per UTC day, counted in
 * memory or, with several replicas, in Redis. A key over either limit gets
 * RESOURCE_EXHAUSTED / HTTP 429 with the time until the window resets.
 *
 * A request's worst-case cost is reserved when it is admitted, and settled
 * to what it really cost when it ends: parallel requests cannot all pass a
 * budget that any one of them would exhaust. A key with a USD budget cannot
 * use a model without a price (fail closed): its cost could not be counted.
 * The counters outlive config reloads; a reload swaps only the limits.
 *
 * While Redis is unreachable the budgets fail open, as rate limits in
 * front of a service usually do (Envoy's, Kong's): requests go on unmetered
 * rather than the store's outage becoming everyone's, and the outage and
 * its end are logged once each. Settling is never in a request's way: a
 * store that fails then costs the caller nothing.
 */
import { connectRedis } from "../redis-client.ts";
import type { GatewayKey } from "../../gen/detour/v1/config_pb.js";
import { GatewayError } from "../errors.ts";
import type { Quote } from "../gateway/quote.ts";
import type { Principal } from "./auth.ts";

/** An admitted request's reservation. */
export interface Hold {
  /** The request ended having cost `usd`: the reservation becomes that. Only the first call counts; never throws. */
  settle(usd: number): void;
}

/** Checks and records a key's use. */
export interface Budgets {
  /**
   * Counts one request and reserves its worst case (from `quote`, asked only
   * for keys with a USD budget); throws BUDGET_EXCEEDED when a limit is
   * reached, COST_LIMIT for a model without a price.
   */
  admit(p: Principal, quote: () => Quote): Promise<Hold>;
  /** Replaces the keys' limits (a reload), keeping what was counted. */
  update(keys: readonly GatewayKey[]): void;
  close(): Promise<void>;
}

/** Where the budgets report a store outage and its end. */
export interface BudgetLog {
  warn(msg: string): void;
  info(msg: string): void;
}

/** How often a budget store that is down is tried again. */
const STORE_PROBE_MS = 1000;

/** The counters behind the budgets. */
interface Counters {
  /** Adds `by` to `key` (expiring after `ttlMs`) and returns the new value. */
  add(key: string, by: number, ttlMs: number): Promise<number>;
  get(key: string): Promise<number>;
  close(): Promise<void>;
}

function memoryCounters(now: () => number): Counters {
  const values = new Map<string, { v: number; until: number }>();
  const live = (key: string) => {
    const e = values.get(key);
    if (e && e.until <= now()) values.delete(key);
    return values.get(key);
  };
  return {
    async add(key, by, ttlMs) {
      const e = live(key) ?? { v: 0, until: now() + ttlMs };
      e.v += by;
      values.set(key, e);
      return e.v;
    },
    async get(key) {
      return live(key)?.v ?? 0;
    },
    async close() {
      values.clear();
    },
  };
}

function redisCounters(url: string): Counters {
  const conn = connectRedis(url, "the budget store (Redis at idempotency.redis_url)");
  return {
    add: (key, by, ttlMs) =>
      conn.run(async (client) => {
        const v = Number(await client.incrByFloat(key, by));
        if (v === by) await client.pExpire(key, ttlMs);
        return v;
      }),
    get: (key) => conn.run(async (client) => Number((await client.get(key)) ?? 0)),
    close: () => conn.close(),
  };
}

/** Nothing reserved: a key without a USD budget, or a store that was down. */
const NO_HOLD: Hold = { settle: () => undefined };

/** A day's spend counter lives a minute past its day, for requests that settle just after midnight. */
const DAY_TTL_MS = 86_400_000 + 60_000;

/** Creates the budgets for the configured keys. */
export function createBudgets(keys: readonly GatewayKey[], redisUrl: string, log: BudgetLog, now: () => number = Date.now): Budgets {
  let limits = new Map(keys.map((k) => [k.name, k]));
  const counters = redisUrl ? redisCounters(redisUrl) : memoryCounters(now);
  const minute = () => Math.floor(now() / 60_000);
  const day = () => Math.floor(now() / 86_400_000);
  const untilNextMinute = () => (minute() + 1) * 60_000 - now();
  const untilMidnight = () => (day() + 1) * 86_400_000 - now();
  let down = false;
  let probeAt = 0;
  /**
   * Runs a counter operation; a store outage gives `fallback` and is logged
   * once. While the store is down it is tried once a second, not by every
   * request: a Redis that hangs would cost each one the command timeout.
   */
  const counted = async <T>(op: () => Promise<T>, fallback: T): Promise<T> => {
    if (down && now() < probeAt) return fallback;
    if (down) probeAt = now() + STORE_PROBE_MS;
    try {
      const v = await op();
      if (down) {
        down = false;
        log.info("budgets: the store is reachable again; limits apply again");
      }
      return v;
    } catch (e) {
      if (!(e instanceof GatewayError && e.reason === "STORE_UNAVAILABLE")) throw e;
      probeAt = now() + STORE_PROBE_MS;
      if (!down) {
        down = true;
        log.warn(`budgets: ${e.message}; requests are let through unmetered until it is back`);
      }
      return fallback;
    }
  };
  const spentUp = (name: string, usdPerDay: number) =>
    new GatewayError("BUDGET_EXCEEDED", `key "${name}" has spent its ${usdPerDay} USD for today (UTC)`, { retryAfterMs: untilMidnight() });
  /**
   * Reserves the request's worst case on today's counter. Admitted while what
   * was spent and reserved before it is under the limit, so one request may
   * still end over it, as before, but never many at once.
   */
  const reserve = async (k: GatewayKey, quote: () => Quote): Promise<Hold> => {
    const spentKey = `detour:budget:${k.name}:usd:${day()}`;
    if ((await counted(() => counters.get(spentKey), 0)) >= k.usdPerDay) throw spentUp(k.name, k.usdPerDay);
    const q = quote();
    if (q.unpriced.length > 0) {
      throw new GatewayError(
        "COST_LIMIT",
        `key "${k.name}" has a budget of ${k.usdPerDay} USD a day, but ${q.unpriced.join(", ")} has no price, so what it costs could not be counted: give it pricing: { input_per_mtok, output_per_mtok } under providers[].models[] in the config, or use a route whose targets all have prices`,
        { field: "model" },
      );
    }
    const held = q.worstCaseUsd;
    const after = await counted(() => counters.add(spentKey, held, DAY_TTL_MS), undefined);
    if (after === undefined) return NO_HOLD;
    let settled = false;
    const settle = (usd: number) => {
      if (settled) return;
      settled = true;
      const by = Math.max(0, usd) - held;
      if (by !== 0) void counted(() => counters.add(spentKey, by, DAY_TTL_MS), 0);
    };
    if (after - held >= k.usdPerDay) {
      settle(0);
      throw spentUp(k.name, k.usdPerDay);
    }
    return { settle };
  };
  return {
    async admit(p, quote) {
      const k = limits.get(p.name);
      if (!k) return NO_HOLD;
      const hold = k.usdPerDay > 0 ? await reserve(k, quote) : NO_HOLD;
      if (k.requestsPerMinute > 0) {
        const n = await counted(() => counters.add(`detour:budget:${p.name}:rpm:${minute()}`, 1, 61_000), 0);
        if (n > k.requestsPerMinute) {
          hold.settle(0);
          throw new GatewayError("BUDGET_EXCEEDED", `key "${p.name}" is over its ${k.requestsPerMinute} requests per minute`, { retryAfterMs: untilNextMinute() });
        }
      }
      return hold;
    },
    update(next) {
      limits = new Map(next.map((k) => [k.name, k]));
    },
    close: () => counters.close(),
  };
}
