/**
 * Wraps the engine's stream so a request ID executes at most once: the first
 * caller executes and records its events; a repeat while it runs replays the
 * events so far and follows the live tail; a repeat after it finished gets
 * the stored result, marked replayed; the same ID with a different request
 * is refused. Only deterministic failures are stored: a transient one frees
 * the ID so a retry runs. When the owner's own caller cancels, a joiner
 * takes over and executes (after a rewinding hop if it relayed output).
 */
import { create } from "@bufbuild/protobuf";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { StreamCompleteResponseSchema } from "../../gen/detour/v1/gateway_pb.js";
import { GatewayError, toGatewayError } from "../errors.ts";
import type { GatewayBatch, GatewayEvent } from "../gateway/events.ts";
import { hopEvent } from "../gateway/events.ts";
import { deterministic, fingerprint, scopedKey, type IdempotencyStore } from "./store.ts";

type Run = (req: CompleteRequest) => AsyncGenerator<GatewayBatch>;

const NOBODY = { $typeName: "detour.v1.TargetRef" as const, provider: "", model: "" };

function replayed(ev: GatewayEvent): GatewayEvent {
  const e = ev.event;
  if (e.case === "started") return create(StreamCompleteResponseSchema, { event: { case: "started", value: { ...e.value, replayed: true } } });
  if (e.case === "done") return create(StreamCompleteResponseSchema, { event: { case: "done", value: { ...e.value, replayed: true } } });
  return ev;
}

/**
 * Runs `run(req)` at most once per request ID and `scope` (the calling key)
 * in `store`: one key can neither replay nor block another key's IDs.
 */
export async function* idempotent(store: IdempotencyStore, req: CompleteRequest, signal: AbortSignal, run: Run, scope = ""): AsyncGenerator<GatewayBatch> {
  const fp = fingerprint(req);
  const key = scopedKey(scope, req.requestId);
  let sent = false;
  for (let round = 0; round < 5; round++) {
    const claim = await store.claim(key, fp, signal);
    if (claim.kind === "mismatch") {
      throw new GatewayError("IDEMPOTENCY_MISMATCH", `request_id "${req.requestId}" was used for a different request: use a new ID for a new request`, { field: "request_id" });
    }
    if (sent) {
      // The owner we followed vanished after we relayed some of its output:
      // what comes next is a new execution, so the caller discards the old.
      yield [hopEvent({ from: NOBODY, to: NOBODY, reason: "OWNER_LOST", attemptIndex: 0, rewind: true })];
      sent = false;
    }
    if (claim.kind === "owner") {
      const { lease } = claim;
      let settled = false;
      // A store that fails while the request runs (Redis went away) does not
      // cost this caller the answer it is being given: the rest is relayed
      // unrecorded, and the ID is let go (or its lease lapses), so joiners
      // and repeats are not left following a record that stopped.
      let recording = true;
      const lost = () => {
        if (!recording) return;
        recording = false;
        void lease.release(new GatewayError("STORE_UNAVAILABLE", `the idempotency store failed while request_id "${req.requestId}" ran: its answer was not recorded; retry it`)).catch(() => undefined);
      };
      try {
        for await (const batch of run(req)) {
          for (const ev of batch) {
            if (recording) await lease.append(ev).catch(lost);
            // Done is the last event, and a unary caller stops reading at it:
            // the record is finished before Done is handed on, not after.
            if (ev.event.case === "done") {
              settled = true;
              if (recording) await lease.complete().catch(lost);
            }
          }
          yield batch;
        }
        if (!settled) {
          settled = true;
          if (recording) await lease.complete().catch(lost);
        }
      } catch (e) {
        const err = toGatewayError(e);
        settled = true;
        if (recording) await (deterministic(err) ? lease.fail(err) : lease.release(err)).catch(() => undefined);
        throw err;
      } finally {
        // The caller stopped reading mid-execution: free the ID, so joiners
        // and later repeats are not left following a record that never ends.
        if (!settled && recording) await lease.release(new GatewayError("CANCELLED", "the caller went away before the answer ended")).catch(() => undefined);
      }
      return;
    }
    for await (const entry of claim.entries) {
      switch (entry.kind) {
        case "event":
          sent = true;
          yield [replayed(entry.event)];
          break;
        case "done":
          return;
        case "released":
          // The owner's caller went away: that is no answer to this caller,
          // who claims the ID next round and executes it instead.
          if (entry.error.reason === "CANCELLED") break;
          throw entry.error;
        case "failed":
          throw entry.error;
        case "orphaned":
          break;
      }
    }
    if (signal.aborted) throw new GatewayError("CANCELLED", "the caller cancelled the call");
  }
  throw new GatewayError("UPSTREAM_UNAVAILABLE", `request_id "${req.requestId}" could not be executed: its owners kept vanishing`);
}
