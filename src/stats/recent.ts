/**
 * The last requests with their attempts trails, in a fixed-size ring, for
 * operators to look at. Each entry says where a request went, why it moved
 * on, how long it took and what it cost; attempt messages are dropped, and
 * prompt and completion text are never part of a request record.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { RecentRequestSchema, type RecentRequest } from "../../gen/detour/v1/admin_pb.js";
import type { RequestRecord } from "../gateway/observer.ts";
import { savedByFallback } from "./saved.ts";

/** The ring of recent requests. */
export interface RecentRequests {
  /** Records a request under `key`: its route, or provider/model for a direct call. */
  add(key: string, rec: RequestRecord): void;
  /** Newest first, at most `limit`, only those recorded under `key` when given. */
  list(key: string | undefined, limit: number): RecentRequest[];
}

/** Creates a ring that keeps the last `capacity` requests. */
export function createRecentRequests(capacity: number): RecentRequests {
  // Records are kept as they come (they are not modified after a request
  // ends) and turned into RecentRequest messages only when someone lists
  // them: the hot path pays for a slot, not for a message.
  const ring: { key: string; rec: RequestRecord }[] = [];
  let next = 0;
  return {
    add(key, rec) {
      const slot = { key, rec: rec.content ? { ...rec, content: undefined } : rec };
      if (ring.length < capacity) ring.push(slot);
      else ring[next] = slot;
      next = (next + 1) % capacity;
    },
    list(key, limit) {
      const out: RecentRequest[] = [];
      for (let i = 1; i <= ring.length && out.length < limit; i++) {
        const e = ring[(next - i + ring.length) % ring.length];
        if (e && (!key || e.key === key)) out.push(toMessage(e.rec));
      }
      return out;
    },
  };
}

function toMessage(rec: RequestRecord): RecentRequest {
  return create(RecentRequestSchema, {
    id: rec.id,
    route: rec.route,
    model: rec.model,
    streaming: rec.streaming,
    outcome: rec.outcome,
    savedByFallback: savedByFallback(rec),
    attempts: rec.attempts.map((a) => ({ ...a, message: "" })),
    latency: durationFromMs(rec.latencyMs),
    cost: { answerUsd: rec.answerUsd, wastedUsd: rec.wastedUsd, totalUsd: rec.answerUsd + rec.wastedUsd },
    endTime: timestampFromMs(rec.endedAt),
    ...(rec.servedBy ? { servedBy: rec.servedBy } : {}),
    ...(rec.usage ? { usage: rec.usage } : {}),
  });
}
