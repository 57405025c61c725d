/**
 * Per-key budgets: requests per minute and US dollars per UTC day, counted in
 * memory or, with several replicas, in Redis. A key over either limit gets
 * RESOURCE_EXHAUSTED / HTTP 429 with the time until the window resets.
 *
 * While Redis is unreachable the budgets fail open, as rate limits in
 * front of a service usually do (Envoy's, Kong's): requests go on unmetered
 * rather than the store's outage becoming everyone's, and the outage and
 * its end are logged once each. Spend is recorded after the answer, never
 * in its way: a store that fails then costs the caller nothing.
 */
import { connectRedis } from "../redis-client.ts";
import type { GatewayKey } from "../../gen/detour/v1/config_pb.js";
import { GatewayError } from "../errors.ts";
import type { Principal } from "./auth.ts";

/** Checks and records a key's use. */
export interface Budgets {
  /** Counts one request; throws BUDGET_EXCEEDED when a limit is reached. */
  admit(p: Principal): Promise<void>;
  /** Adds what a request cost once it ended (or failed); never throws. */
  spend(p: Principal, usd: number): void;
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

/** Creates the budgets for the configured keys. */
export function createBudgets(keys: readonly GatewayKey[], redisUrl: string, log: BudgetLog, now: () => number = Date.now): Budgets {
  const limits = new Map(keys.map((k) => [k.name, k]));
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
  return {
    async admit(p) {
      const k = limits.get(p.name);
      if (!k) return;
      if (k.usdPerDay > 0 && (await counted(() => counters.get(`detour:budget:${p.name}:usd:${day()}`), 0)) >= k.usdPerDay) {
        throw new GatewayError("BUDGET_EXCEEDED", `key "${p.name}" has spent its ${k.usdPerDay} USD for today (UTC)`, { retryAfterMs: untilMidnight() });
      }
      if (k.requestsPerMinute > 0) {
        const n = await counted(() => counters.add(`detour:budget:${p.name}:rpm:${minute()}`, 1, 61_000), 0);
        if (n > k.requestsPerMinute) {
          throw new GatewayError("BUDGET_EXCEEDED", `key "${p.name}" is over its ${k.requestsPerMinute} requests per minute`, { retryAfterMs: untilNextMinute() });
        }
      }
    },
    spend(p, usd) {
      const k = limits.get(p.name);
      if (!k || k.usdPerDay <= 0 || usd <= 0) return;
      void counted(() => counters.add(`detour:budget:${p.name}:usd:${day()}`, usd, 86_400_000 + 60_000), 0);
    },
    close: () => counters.close(),
  };
}
