/**
 * The in-memory idempotency store, for a single replica: records live for
 * a TTL in an LRU bounded in bytes (finished records are evicted oldest
 * first; running ones never are). A record counts what it holds in the
 * heap (see heap-size.ts), so max_bytes bounds the memory really used.
 */
import type { StreamCompleteResponse } from "../../gen/detour/v1/gateway_pb.js";
import type { GatewayError } from "../errors.ts";
import { heapSize, MAP_ENTRY, stringSize } from "./heap-size.ts";
import type { Claim, Entry, IdempotencyStore } from "./store.ts";

interface Rec {
  readonly fp: string;
  finished: boolean;
  readonly entries: Entry[];
  readonly wake: Set<() => void>;
  bytes: number;
  expiresAt: number;
}

/** Options of the memory store. */
export interface MemoryStoreOptions {
  readonly ttlMs: number;
  readonly maxBytes: number;
  readonly now?: () => number;
}

/** A Rec with its empty entries array and wake set, and its map entry. */
const RECORD = 32 + 16 * 6 + 48 + 96 + MAP_ENTRY;
/** An entry object and its slot in the entries array (which grows by half). */
const ENTRY = 32 + 16 * 2 + 12;

/** Creates the memory store. */
export function createMemoryStore(opts: MemoryStoreOptions): IdempotencyStore {
  const now = opts.now ?? Date.now;
  const records = new Map<string, Rec>();
  let total = 0;

  const drop = (key: string, rec: Rec) => {
    if (records.get(key) !== rec) return;
    records.delete(key);
    total -= rec.bytes;
  };
  const evict = () => {
    for (const [key, rec] of records) {
      if (total <= opts.maxBytes) return;
      if (rec.finished) drop(key, rec);
    }
  };
  const push = (rec: Rec, e: Entry, size: number) => {
    rec.entries.push(e);
    rec.bytes += size;
    total += size;
    for (const w of rec.wake) w();
    rec.wake.clear();
  };

  async function* follow(rec: Rec, signal: AbortSignal): AsyncGenerator<Entry> {
    for (let i = 0; ; ) {
      while (i < rec.entries.length) {
        const e = rec.entries[i++] as Entry;
        yield e;
        if (e.kind !== "event") return;
      }
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        rec.wake.add(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  return {
    async claim(key, fp, signal): Promise<Claim> {
      let rec = records.get(key);
      if (rec && rec.finished && rec.expiresAt <= now()) {
        drop(key, rec);
        rec = undefined;
      }
      if (rec) {
        if (rec.fp !== fp) return { kind: "mismatch" };
        // Refresh its place in the LRU.
        records.delete(key);
        records.set(key, rec);
        return { kind: "join", entries: follow(rec, signal) };
      }
      // The record, its entries array, its wake set and its slot in the map.
      const mine: Rec = { fp, finished: false, entries: [], wake: new Set(), bytes: RECORD + stringSize(key) + stringSize(fp), expiresAt: Infinity };
      records.set(key, mine);
      total += mine.bytes;
      const finish = (e: Entry, size: number) => {
        push(mine, e, size);
        mine.finished = true;
        mine.expiresAt = now() + opts.ttlMs;
        evict();
      };
      return {
        kind: "owner",
        lease: {
          async append(event: StreamCompleteResponse) {
            push(mine, { kind: "event", event }, ENTRY + heapSize(event));
          },
          async complete() {
            finish({ kind: "done" }, ENTRY);
          },
          async fail(error: GatewayError) {
            finish({ kind: "failed", error }, ENTRY + heapSize(error));
          },
          async release(error: GatewayError) {
            push(mine, { kind: "released", error }, 0);
            drop(key, mine);
          },
        },
      };
    },
    async close() {
      records.clear();
      total = 0;
    },
  };
}
