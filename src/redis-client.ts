/**
 * Detour's Redis connections (idempotency records, key budgets) and their
 * one outage rule: a request never waits for a Redis that is not there.
 *
 * - While the client is disconnected, commands fail at once: no offline
 *   queue, which would hold each request until Redis came back.
 * - A connected Redis that stops answering fails each command after
 *   COMMAND_TIMEOUT_MS (timed here: node-redis's own command timeout ends
 *   once a command is written, and a frozen server takes the writes). The
 *   command itself stays queued, at most MAX_QUEUED of them, and its late
 *   answer is dropped.
 * - Only the first connection is waited for, by calls made in the first
 *   CONNECT_WAIT_MS after start-up.
 *
 * Every failure is a STORE_UNAVAILABLE GatewayError; what an outage means
 * (refuse, or go on without the store) is each user's decision.
 */
import type { RedisClientType } from "redis";
import { GatewayError } from "./errors.ts";
import { redisModule } from "./lazy-redis.ts";
import { settledWithin } from "./settled-within.ts";

/** The longest a connected Redis may take to answer one command. */
export const COMMAND_TIMEOUT_MS = 1000;
/** Commands a client may have waiting for a server that does not answer. */
const MAX_QUEUED = 10_000;
/** How long calls made at start-up wait for the first connection. */
const CONNECT_WAIT_MS = 1000;
/** How long close() waits for a graceful QUIT before dropping the socket. */
const CLOSE_WAIT_MS = 1000;

/** A Redis connection under the outage rule. */
export interface RedisConn {
  /** Runs `op` on the connected client; any failure becomes STORE_UNAVAILABLE. */
  run<T>(op: (client: RedisClientType) => Promise<T>): Promise<T>;
  /** A second connection to the same server (for pub/sub). */
  duplicate(): RedisConn;
  /** Closes the connection; never waits on a Redis that is gone. */
  close(): Promise<void>;
}

/**
 * Opens a connection to `url` in the background. `what` names the store and
 * its setting in errors, as in "the idempotency store (idempotency.redis_url)".
 */
export function connectRedis(url: string, what: string): RedisConn {
  return open(redisModule().createClient({ url, disableOfflineQueue: true, commandsQueueMaxLength: MAX_QUEUED }), what);
}

function open(client: RedisClientType, what: string): RedisConn {
  client.on("error", () => undefined);
  const connecting = client.connect();
  connecting.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  // Settles on the first connection or after CONNECT_WAIT_MS, whichever is first.
  const firstWait = Promise.race([
    connecting.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, CONNECT_WAIT_MS))),
  ]).finally(() => clearTimeout(timer));
  const unavailable = (cause: unknown) =>
    cause instanceof GatewayError ? cause : new GatewayError("STORE_UNAVAILABLE", `${what} is unreachable (${describe(cause)})`, { retryAfterMs: 1000, cause });
  return {
    async run(op) {
      try {
        if (!client.isReady) await firstWait;
        if (!client.isReady) throw new Error("not connected");
        return await answered(op(client));
      } catch (e) {
        throw unavailable(e);
      }
    },
    duplicate: () => open(client.duplicate(), what),
    async close() {
      if (!client.isOpen) return;
      if (!client.isReady) return client.destroy();
      if (!(await settledWithin(client.close(), CLOSE_WAIT_MS)) && client.isOpen) client.destroy();
    },
  };
}

/** `p`, or a TimeoutError once COMMAND_TIMEOUT_MS have passed without it. */
function answered<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("no answer"), { name: "TimeoutError" })), COMMAND_TIMEOUT_MS);
  });
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A short, key-free description of a Redis client error. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e.name === "TimeoutError") return `no answer within ${COMMAND_TIMEOUT_MS} ms`;
  if (e.name === "ClientOfflineError" || e.message === "not connected") return "not connected";
  return e.message;
}
