/**
 * The Redis idempotency store, for several replicas. A claim is a Lua script:
 * the first caller of an ID gets it with a fencing token and a lease it keeps
 * renewing; writes are fenced, so a replica that lost its lease (it crashed,
 * or stalled) cannot write over its successor. Events go to a Redis stream
 * per execution; joiners replay it and follow the tail, woken by pub/sub
 * (one shared subscriber connection) and by a slow poll that also notices
 * an owner whose lease expired, so a retry executes exactly once more.
 */
import { connectRedis } from "../redis-client.ts";
import { GatewayError } from "../errors.ts";
import { decodeError, decodeEvent, encodeError, encodeEvent, requestIdOf, type Claim, type Entry, type IdempotencyStore } from "./store.ts";

const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'fp', 'token', 'state')
if cur[1] then
  if cur[1] ~= ARGV[1] then return {'mismatch'} end
  if cur[3] ~= 'running' or redis.call('EXISTS', KEYS[2]) == 1 then return {'join', cur[2]} end
end
local token = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', token, 'state', 'running')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], token, 'PX', ARGV[2])
return {'owner', tostring(token)}`;

// KEYS: record, stream, lease; ARGV: token, kind, data, ttlMs, channel, state ('' keeps it), leaseMs ('' drops the lease)
const WRITE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', 'k', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[6] == 'released' then
  redis.call('DEL', KEYS[1], KEYS[3])
elseif ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'state', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('DEL', KEYS[3])
end
redis.call('PUBLISH', ARGV[5], '1')
return 1`;

const RENEW = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

/** Options of the Redis store. */
export interface RedisStoreOptions {
  readonly url: string;
  readonly ttlMs: number;
  /** How long a claim survives without renewal. Default 10s. */
  readonly leaseMs?: number;
  readonly prefix?: string;
}

/**
 * Returns the store; it connects in the background. While Redis is
 * unreachable, claims fail at once with STORE_UNAVAILABLE (see
 * redis-client.ts): a request with an ID is refused, not run unguarded.
 */
export function createRedisStore(opts: RedisStoreOptions): IdempotencyStore {
  const leaseMs = opts.leaseMs ?? 10_000;
  const prefix = opts.prefix ?? "detour:idem";
  const conn = connectRedis(opts.url, "the idempotency store (Redis at idempotency.redis_url)");
  const subConn = conn.duplicate();
  const wakers = new Map<string, Set<() => void>>();

  const keys = (id: string) => ({
    record: `${prefix}:{${id}}`,
    lease: `${prefix}:{${id}}:lease`,
    fence: `${prefix}:fence`,
    channel: `${prefix}:{${id}}:ch`,
    stream: (token: string) => `${prefix}:{${id}}:ev:${token}`,
  });

  const listen = async (channel: string, wake: () => void) => {
    let set = wakers.get(channel);
    if (!set) {
      set = new Set();
      wakers.set(channel, set);
      const listeners = set;
      try {
        await subConn.run((sub) =>
          sub.subscribe(channel, () => {
            for (const w of listeners) w();
          }),
        );
      } catch (e) {
        if (wakers.get(channel) === set && set.size === 0) wakers.delete(channel);
        throw e;
      }
    }
    set.add(wake);
    return async () => {
      set.delete(wake);
      if (set.size === 0 && wakers.get(channel) === set) {
        wakers.delete(channel);
        await subConn.run((sub) => sub.unsubscribe(channel)).catch(() => undefined);
      }
    };
  };

  async function* follow(id: string, token: string, signal: AbortSignal): AsyncGenerator<Entry> {
    const k = keys(id);
    let wake: () => void = () => undefined;
    // Subscribed on the first wait only: a finished record (the usual
    // repeat) is replayed with one read and no pub/sub at all.
    let stop: (() => Promise<void>) | undefined;
    let last = "-";
    let waited = false;
    /**
     * True when the execution followed will write nothing more: its owner's
     * lease lapsed while it ran (it crashed or stalled), or another caller
     * has taken the ID over since (a new token: this one's stream is done
     * with, and the channel's wakes are now the successor's).
     */
    const abandoned = async (): Promise<boolean> => {
      return conn.run(async (client) => {
        if ((await client.hGet(k.record, "token")) !== token) return true;
        return (await client.exists(k.lease)) === 0 && (await client.hGet(k.record, "state")) === "running";
      });
    };
    // One abort listener for the whole follow (a long-lived caller signal
    // would otherwise collect one per wait).
    const onAbort = () => wake();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const from = last === "-" ? "-" : `(${last}`;
        const range = (await conn.run((client) => client.xRange(k.stream(token), from, "+"))) as { id: string; message: Record<string, string> }[];
        for (const entry of range) {
          last = entry.id;
          const data = entry.message["d"] ?? "";
          switch (entry.message["k"]) {
            case "event":
              yield { kind: "event", event: decodeEvent(data) };
              break;
            case "done":
              yield { kind: "done" };
              return;
            case "failed":
              yield { kind: "failed", error: decodeError(data) };
              return;
            case "released":
              yield { kind: "released", error: decodeError(data) };
              return;
          }
        }
        if (signal.aborted) return;
        if (!stop) {
          stop = await listen(k.channel, () => wake());
          // Subscribed now: read again before waiting, or a write made in between would wait for the slow poll.
          continue;
        }
        // A wait that brought nothing (the slow poll, or a wake for another
        // token on this ID's channel): is anyone still writing this stream?
        if (waited && range.length === 0 && (await abandoned())) {
          yield { kind: "orphaned" };
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(500, leaseMs / 2));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waited = true;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      await stop?.();
    }
  }

  return {
    async claim(id, fp, signal): Promise<Claim> {
      const k = keys(id);
      const [kind, token] = (await conn
        .run((client) => client.eval(CLAIM, { keys: [k.record, k.lease, k.fence], arguments: [fp, String(leaseMs), String(opts.ttlMs)] }))
        .catch((e: GatewayError) => {
          throw new GatewayError("STORE_UNAVAILABLE", `${e.message}, so request_id "${requestIdOf(id)}" cannot be kept from running twice: retry shortly, or send the request without an ID`, { retryAfterMs: e.retryAfterMs ?? 1000, cause: e });
        })) as [string, string?];
      if (kind === "mismatch") return { kind: "mismatch" };
      if (kind === "join") return { kind: "join", entries: follow(id, token ?? "", signal) };
      const t = token ?? "";
      const renew = setInterval(() => {
        void conn.run((client) => client.eval(RENEW, { keys: [k.record, k.lease], arguments: [t, String(leaseMs)] })).catch(() => undefined);
      }, leaseMs / 3);
      renew.unref();
      const write = async (entryKind: string, data: string, state: string) => {
        if (state !== "") clearInterval(renew);
        await conn.run((client) => client.eval(WRITE, { keys: [k.record, k.stream(t), k.lease], arguments: [t, entryKind, data, String(opts.ttlMs), k.channel, state] }));
      };
      return {
        kind: "owner",
        lease: {
          append: (event) => write("event", encodeEvent(event), ""),
          complete: () => write("done", "", "done"),
          fail: (error: GatewayError) => write("failed", encodeError(error), "failed"),
          release: (error: GatewayError) => write("released", encodeError(error), "released"),
        },
      };
    },
    async close() {
      await Promise.all([subConn.close(), conn.close()]);
    },
  };
}
