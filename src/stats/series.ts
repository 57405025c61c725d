/**
 * Attempts per target over time, in short steps, for charts: how many each
 * target answered, failed and skipped. Steps older than the window are
 * dropped as new requests arrive or the series is read.
 */
import { create } from "@bufbuild/protobuf";
import { AttemptOutcome, type TargetRef } from "../../gen/detour/v1/result_pb.js";
import { TargetSeriesSchema, type TargetSeries } from "../../gen/detour/v1/admin_pb.js";
import type { RequestRecord } from "../gateway/observer.ts";
import { keyJoiner } from "../join-key.ts";

const targetKey = keyJoiner("/");

interface Counts {
  ref: TargetRef;
  served: number;
  failed: number;
  skipped: number;
}

/** The series of every route, aligned on the same steps. */
export interface SeriesSnapshot {
  /** Start of the first step, in ms since the epoch. */
  readonly startMs: number;
  readonly stepMs: number;
  readonly routes: ReadonlyMap<string, TargetSeries[]>;
}

/** Counts attempts into steps. */
export interface Series {
  add(route: string, rec: RequestRecord): void;
  snapshot(): SeriesSnapshot;
}

/** Creates a series of `windowMs / stepMs` steps. */
export function createSeries(windowMs: number, stepMs: number, now: () => number): Series {
  const steps = Math.max(1, Math.ceil(windowMs / stepMs));
  // step index → route → "provider/model" → counts
  const data = new Map<number, Map<string, Map<string, Counts>>>();
  const prune = (current: number) => {
    for (const k of data.keys()) if (k <= current - steps) data.delete(k);
  };
  return {
    add(route, rec) {
      const step = Math.floor(rec.endedAt / stepMs);
      prune(Math.floor(now() / stepMs));
      let byRoute = data.get(step);
      if (!byRoute) data.set(step, (byRoute = new Map()));
      let targets = byRoute.get(route);
      if (!targets) byRoute.set(route, (targets = new Map()));
      for (const a of rec.attempts) {
        if (!a.target) continue;
        const key = targetKey(a.target.provider, a.target.model);
        let c = targets.get(key);
        if (!c) targets.set(key, (c = { ref: a.target, served: 0, failed: 0, skipped: 0 }));
        if (a.outcome === AttemptOutcome.SUCCEEDED) c.served++;
        else if (a.outcome === AttemptOutcome.FAILED) c.failed++;
        else if (a.outcome === AttemptOutcome.SKIPPED) c.skipped++;
      }
    },
    snapshot() {
      const current = Math.floor(now() / stepMs);
      prune(current);
      const first = current - steps + 1;
      const routes = new Map<string, Map<string, TargetSeries>>();
      for (const [step, byRoute] of data) {
        const i = step - first;
        if (i < 0 || i >= steps) continue;
        for (const [route, targets] of byRoute) {
          let out = routes.get(route);
          if (!out) routes.set(route, (out = new Map()));
          for (const [key, c] of targets) {
            let s = out.get(key);
            if (!s) {
              const zeros = () => new Array<number>(steps).fill(0);
              out.set(key, (s = create(TargetSeriesSchema, { target: c.ref, served: zeros(), failed: zeros(), skipped: zeros() })));
            }
            s.served[i] = (s.served[i] ?? 0) + c.served;
            s.failed[i] = (s.failed[i] ?? 0) + c.failed;
            s.skipped[i] = (s.skipped[i] ?? 0) + c.skipped;
          }
        }
      }
      return { startMs: first * stepMs, stepMs, routes: new Map([...routes].map(([r, m]) => [r, [...m.values()]])) };
    },
  };
}
