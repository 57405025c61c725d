/**
 * Fallback analytics over a sliding window: per route, the requests each
 * target served, how many a fallback saved and by which model, failures by
 * reason, latency and TTFT percentiles, and cost. Kept in one-minute buckets;
 * percentiles come from a bounded sample per target and bucket. Alongside:
 * attempts per target in five-second steps, for charts, and a ring of the
 * last requests with their attempts trails.
 */
import { createLabelFold, OTHER_LABEL } from "../telemetry/label-fold.ts";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { GetStatsResponseSchema, type GetStatsResponse, type RecentRequest } from "../../gen/detour/v1/admin_pb.js";
import { AttemptOutcome, Decision, type TargetRef } from "../../gen/detour/v1/result_pb.js";
import type { GatewayObserver, RequestRecord } from "../gateway/observer.ts";
import { createRecentRequests } from "./recent.ts";
import { savedByFallback } from "./saved.ts";
import { createSeries } from "./series.ts";
import { keyJoiner } from "../join-key.ts";

const targetKey = keyJoiner("/");

const BUCKET_MS = 60_000;
const SAMPLES = 512;
const SERIES_STEP_MS = 5_000;
/** How many requests the recent-requests ring keeps. */
export const RECENT_CAPACITY = 200;

interface TargetAgg {
  ref: TargetRef;
  served: number;
  saved: number;
  failed: number;
  skipped: number;
  latency: number[];
  ttft: number[];
  input: number;
  output: number;
  cost: number;
  wasted: number;
}

interface RouteAgg {
  requests: number;
  succeeded: number;
  failed: number;
  saved: number;
  targets: Map<string, TargetAgg>;
  fallbacks: Map<string, { from: TargetRef; to: TargetRef; reason: string; count: number }>;
  failures: Map<string, number>;
  answer: number;
  wasted: number;
}

/** The statistics store: an observer plus its queries. */
export interface Stats extends GatewayObserver {
  get(route?: string): GetStatsResponse;
  /** The last requests, newest first, at most `limit`. */
  recent(route: string | undefined, limit: number): RecentRequest[];
}

function sample(list: number[], v: number): void {
  if (list.length < SAMPLES) list.push(v);
  else list[Math.floor(Math.random() * SAMPLES)] = v;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Creates the statistics store for a window (default 15 minutes). */
export function createStats(windowMs = 15 * 60_000, now: () => number = Date.now): Stats {
  const buckets = new Map<number, Map<string, RouteAgg>>();
  // Route keys of direct calls and target keys carry caller-chosen names: bounded.
  const foldKey = createLabelFold();
  const foldTarget = createLabelFold();
  const series = createSeries(windowMs, SERIES_STEP_MS, now);
  const recent = createRecentRequests(RECENT_CAPACITY);
  const bucketOf = (t: number) => Math.floor(t / BUCKET_MS);
  const prune = () => {
    const oldest = bucketOf(now() - windowMs);
    for (const k of buckets.keys()) if (k < oldest) buckets.delete(k);
  };
  const routeAgg = (b: Map<string, RouteAgg>, route: string): RouteAgg => {
    let r = b.get(route);
    if (!r) {
      r = { requests: 0, succeeded: 0, failed: 0, saved: 0, targets: new Map(), fallbacks: new Map(), failures: new Map(), answer: 0, wasted: 0 };
      b.set(route, r);
    }
    return r;
  };
  const targetAgg = (r: RouteAgg, target: TargetRef): TargetAgg => {
    const folded = foldTarget(targetKey(target.provider, target.model)) === OTHER_LABEL;
    const ref = folded ? { ...target, model: OTHER_LABEL } : target;
    const key = targetKey(ref.provider, ref.model);
    let t = r.targets.get(key);
    if (!t) {
      t = { ref, served: 0, saved: 0, failed: 0, skipped: 0, latency: [], ttft: [], input: 0, output: 0, cost: 0, wasted: 0 };
      r.targets.set(key, t);
    }
    return t;
  };

  return {
    recent: (route, limit) => recent.list(route, limit),
    onRequest(rec: RequestRecord) {
      prune();
      const k = bucketOf(rec.endedAt);
      let b = buckets.get(k);
      if (!b) buckets.set(k, (b = new Map()));
      // A name no route or model answers to is the caller's invention: never its own entry.
      const key = rec.outcome === "UNKNOWN_MODEL" ? OTHER_LABEL : foldKey(rec.route || rec.model);
      series.add(key, rec);
      recent.add(key, rec);
      const r = routeAgg(b, key);
      r.requests++;
      r.answer += rec.answerUsd;
      r.wasted += rec.wastedUsd;
      if (rec.outcome === "ok") r.succeeded++;
      else r.failed++;
      rec.attempts.forEach((a, i) => {
        if (!a.target) return;
        const t = targetAgg(r, a.target);
        if (a.outcome === AttemptOutcome.SUCCEEDED) {
          t.served++;
          if (a.latency) sample(t.latency, durationMs(a.latency));
          if (a.usage) {
            t.input += a.usage.inputTokens;
            t.output += a.usage.outputTokens;
          }
        } else if (a.outcome === AttemptOutcome.FAILED) {
          t.failed++;
        } else if (a.outcome === AttemptOutcome.SKIPPED) {
          t.skipped++;
        }
        if (a.ttft) sample(t.ttft, durationMs(a.ttft));
        t.cost += a.costUsd;
        if (a.outcome !== AttemptOutcome.SUCCEEDED) t.wasted += a.costUsd;
        if (a.reason && a.outcome !== AttemptOutcome.SUCCEEDED) r.failures.set(a.reason, (r.failures.get(a.reason) ?? 0) + 1);
        const next = rec.attempts[i + 1];
        if (a.decision === Decision.FALLBACK && next?.target) {
          const from = targetAgg(r, a.target).ref;
          const to = targetAgg(r, next.target).ref;
          const key = `${from.provider}/${from.model}>${to.provider}/${to.model}>${a.reason}`;
          const f = r.fallbacks.get(key) ?? { from, to, reason: a.reason, count: 0 };
          f.count++;
          r.fallbacks.set(key, f);
        }
      });
      if (rec.servedBy && savedByFallback(rec)) {
        r.saved++;
        targetAgg(r, rec.servedBy).saved++;
      }
    },
    get(route) {
      prune();
      const merged = new Map<string, RouteAgg>();
      for (const b of buckets.values()) {
        for (const [name, r] of b) {
          if (route && name !== route) continue;
          const m = routeAgg(merged, name);
          m.requests += r.requests;
          m.succeeded += r.succeeded;
          m.failed += r.failed;
          m.saved += r.saved;
          m.answer += r.answer;
          m.wasted += r.wasted;
          for (const [reason, n] of r.failures) m.failures.set(reason, (m.failures.get(reason) ?? 0) + n);
          for (const [key, f] of r.fallbacks) {
            const g = m.fallbacks.get(key) ?? { ...f, count: 0 };
            g.count += f.count;
            m.fallbacks.set(key, g);
          }
          for (const t of r.targets.values()) {
            const g = targetAgg(m, t.ref);
            g.served += t.served;
            g.saved += t.saved;
            g.failed += t.failed;
            g.skipped += t.skipped;
            g.latency.push(...t.latency);
            g.ttft.push(...t.ttft);
            g.input += t.input;
            g.output += t.output;
            g.cost += t.cost;
            g.wasted += t.wasted;
          }
        }
      }
      const steps = series.snapshot();
      return create(GetStatsResponseSchema, {
        window: durationFromMs(windowMs),
        seriesStart: timestampFromMs(steps.startMs),
        seriesStep: durationFromMs(steps.stepMs),
        routes: [...merged].map(([name, r]) => ({
          route: name,
          requests: BigInt(r.requests),
          succeeded: BigInt(r.succeeded),
          failed: BigInt(r.failed),
          savedByFallback: BigInt(r.saved),
          targets: [...r.targets.values()].map((t) => ({
            target: t.ref,
            served: BigInt(t.served),
            saved: BigInt(t.saved),
            failed: BigInt(t.failed),
            latencyP50: durationFromMs(percentile(t.latency, 50)),
            latencyP95: durationFromMs(percentile(t.latency, 95)),
            ttftP50: durationFromMs(percentile(t.ttft, 50)),
            ttftP95: durationFromMs(percentile(t.ttft, 95)),
            usage: { inputTokens: t.input, outputTokens: t.output, totalTokens: t.input + t.output },
            costUsd: t.cost,
            wastedUsd: t.wasted,
            skipped: BigInt(t.skipped),
          })),
          fallbacks: [...r.fallbacks.values()].map((f) => ({ from: f.from, to: f.to, reason: f.reason, count: BigInt(f.count) })),
          failuresByReason: Object.fromEntries([...r.failures].map(([k, v]) => [k, BigInt(v)])),
          cost: { answerUsd: r.answer, wastedUsd: r.wasted, totalUsd: r.answer + r.wasted },
          series: steps.routes.get(name) ?? [],
          fallbackCount: BigInt([...r.fallbacks.values()].reduce((n, f) => n + f.count, 0)),
        })),
      });
    },
  };
}
