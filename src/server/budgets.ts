/**
 * Per-key budgets: requests per minute and US dollars per UTC day, counted in
 * memory or, with several replicas, in Redis. A key over either limit gets
 * RESOURCE_EXHAUSTED / HTTP 429 with the time until the window resets.
 */
import type { RedisClientType } from "redis";
import { redisModule } from "../lazy-redis.ts";
import type { GatewayKey } from "../../gen/detour/v1/config_pb.js";
import { GatewayError } from "../errors.ts";
import type { Principal } from "./auth.ts";

/** Checks and records a key's use. */
export interface Budgets {
  /** Counts one request; throws BUDGET_EXCEEDED when a limit is reached. */
  admit(p: Principal): Promise<void>;
  /** Adds spend once a request ended. */
  spend(p: Principal, usd: number): Promise<void>;
  close(): Promise<void>;
}

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
  const client: RedisClientType = redisModule().createClient({ url });
  client.on("error", () => undefined);
  const ready = client.connect();
  ready.catch(() => undefined);
  return {
    async add(key, by, ttlMs) {
      await ready;
      const v = Number(await client.incrByFloat(key, by));
      if (v === by) await client.pExpire(key, ttlMs);
      return v;
    },
    async get(key) {
      await ready;
      return Number((await client.get(key)) ?? 0);
    },
    async close() {
      await ready.catch(() => undefined);
      await client.quit().catch(() => undefined);
    },
  };
}

/** Creates the budgets for the configured keys. */
export function createBudgets(keys: readonly GatewayKey[], redisUrl: string, now: () => number = Date.now): Budgets {
  const limits = new Map(keys.map((k) => [k.name, k]));
  const counters = redisUrl ? redisCounters(redisUrl) : memoryCounters(now);
  const minute = () => Math.floor(now() / 60_000);
  const day = () => Math.floor(now() / 86_400_000);
  const untilNextMinute = () => (minute() + 1) * 60_000 - now();
  const untilMidnight = () => (day() + 1) * 86_400_000 - now();
  return {
    async admit(p) {
      const k = limits.get(p.name);
      if (!k) return;
      if (k.usdPerDay > 0 && (await counters.get(`detour:budget:${p.name}:usd:${day()}`)) >= k.usdPerDay) {
        throw new GatewayError("BUDGET_EXCEEDED", `key "${p.name}" has spent its ${k.usdPerDay} USD for today (UTC)`, { retryAfterMs: untilMidnight() });
      }
      if (k.requestsPerMinute > 0) {
        const n = await counters.add(`detour:budget:${p.name}:rpm:${minute()}`, 1, 61_000);
        if (n > k.requestsPerMinute) {
          throw new GatewayError("BUDGET_EXCEEDED", `key "${p.name}" is over its ${k.requestsPerMinute} requests per minute`, { retryAfterMs: untilNextMinute() });
        }
      }
    },
    async spend(p, usd) {
      const k = limits.get(p.name);
      if (!k || k.usdPerDay <= 0 || usd <= 0) return;
      await counters.add(`detour:budget:${p.name}:usd:${day()}`, usd, 86_400_000 + 60_000);
    },
    close: () => counters.close(),
  };
}
