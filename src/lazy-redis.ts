/**
 * The Redis client library, loaded on first use: only a deployment that
 * configures Redis (idempotency or budgets) pays its ~8 MB of resident memory.
 */
import { createRequire } from "node:module";

type RedisModule = typeof import("redis");

let cached: RedisModule | undefined;

/** Returns the `redis` package, requiring it the first time. */
export function redisModule(): RedisModule {
  cached ??= createRequire(import.meta.url)("redis") as RedisModule;
  return cached;
}
