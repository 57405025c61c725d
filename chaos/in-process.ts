/**
 * The chaos run against an in-process Detour: warm up, take a heap
 * baseline, then steady load while the upstream cycles through the fault
 * phases and a healthy recovery, watching breakers through the admin API and
 * the process for unhandled rejections. Returns what it saw and every
 * violation of the suite's assertions.
 */
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";
import { createMemoryStore } from "../src/idempotency/memory.ts";
import type { IdempotencyStore } from "../src/idempotency/store.ts";
import { startApp } from "../test/helpers/app.ts";
import { watchBreakers, listBreakers } from "./breaker-watch.ts";
import { doubleExecutions, tally, tallyViolations, type Tally } from "./checks.ts";
import type { Outcome } from "./client.ts";
import { HEALTHY, startFaultUpstream, type FaultKind, type FaultUpstream } from "./fault-upstream.ts";
import { driveLoad } from "./load.ts";
import { chaosConfig, DEADLINE_MS, FAULT_PHASES, TARGETS, timePlan, type TimePlan } from "./scenario.ts";

/** How the run is sized. */
export interface ChaosOptions {
  /** Load time in total: warm-up, fault phases and recovery. */
  readonly durationMs: number;
  readonly workers: number;
  readonly seed: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** What the in-process run saw. */
export interface InProcessReport {
  readonly tally: Tally;
  readonly doubleExecutions: readonly string[];
  readonly breakerOpens: number;
  readonly breakerRecoveries: number;
  readonly heapBeforeMb: number;
  readonly heapAfterMb: number;
  readonly unhandled: readonly string[];
  readonly upstream: Readonly<Record<FaultKind | "ok", number>>;
  readonly violations: readonly string[];
}

/** Scheduling and parsing slack on top of the gateway's deadline. */
export const GRACE_MS = 1_500;
/** Well beyond the deadline: a request still open then is a hang. */
export const CLIENT_TIMEOUT_MS = DEADLINE_MS + 6_000;
/**
 * Heap growth allowed after the load, beyond the baseline: what a first
 * heavy load adds and keeps by design (optimised code, the stats window's
 * samples, the recent-requests ring) is 1–3 MB; a leak of a few hundred
 * bytes per request exceeds it in the long run.
 */
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;

/** The collector: --expose-gc's, or one exposed at run time. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** heapUsed after full collections, with turns of the event loop between for finalizers. */
async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

/**
 * The gateway's idempotency store, which the harness can swap for an empty
 * one while no request runs: records are kept by design (for their TTL,
 * within max_bytes), and the heap check is after everything else.
 */
function renewableStore(): { store: IdempotencyStore; renew(): void } {
  const make = () => createMemoryStore({ ttlMs: 600_000, maxBytes: 64 * 1024 * 1024 });
  let current = make();
  return {
    store: { claim: (key, fp, signal) => current.claim(key, fp, signal), close: () => current.close() },
    renew() {
      current = make();
    },
  };
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Steady load through every fault phase, then the healthy recovery. Returns
 * only the verdicts: the outcomes (and the promise holding them) must be
 * garbage before the heap is measured.
 */
async function underFaults(upstream: FaultUpstream, load: (ms: number) => Promise<Outcome[]>, plan: TimePlan, log: (line: string) => void) {
  const running = load(plan.phaseMs * FAULT_PHASES.length + plan.recoveryMs);
  for (const phase of FAULT_PHASES) {
    upstream.setPhase(phase);
    log(`phase ${phase.name} ${plan.phaseMs}ms`);
    await sleep(plan.phaseMs);
  }
  upstream.setPhase(HEALTHY);
  log(`phase recovery ${plan.recoveryMs}ms`);
  const outcomes = await running;
  const t = tally(outcomes, DEADLINE_MS, GRACE_MS);
  return { t, broken: tallyViolations(t, outcomes, DEADLINE_MS, GRACE_MS), doubles: doubleExecutions(outcomes, upstream.keys) };
}

/** Runs the in-process chaos. */
export async function runInProcess(opts: ChaosOptions): Promise<InProcessReport> {
  const log = opts.log ?? (() => undefined);
  const unhandled: string[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
  const gc = collector();
  const plan = timePlan(opts.durationMs);
  const upstream = await startFaultUpstream({ seed: opts.seed });
  const records = renewableStore();
  const gateway = await startApp(chaosConfig(upstream.baseUrl), { idempotency: records.store });
  const load = (ms: number, prefix: string) =>
    driveLoad({ url: gateway.url, models: TARGETS, workers: opts.workers, endAt: Date.now() + ms, clientTimeoutMs: CLIENT_TIMEOUT_MS, seed: opts.seed, keyPrefix: prefix });
  try {
    log(`warm-up ${plan.warmupMs}ms`);
    const warm = (await load(plan.warmupMs, "warm")).length;
    upstream.forget();
    records.renew();
    const heapBefore = await settledHeap(gc);
    log(`warm-up: ${warm} requests; heap ${mb(heapBefore)} MB`);

    const watch = watchBreakers(gateway.url, 100);
    const { t, broken, doubles } = await underFaults(upstream, (ms) => load(ms, "chaos"), plan, log);
    upstream.forget();
    records.renew();
    await watch.stop();
    const stuck = (await listBreakers(gateway.url)).filter((b) => b.state !== "CLOSED");
    const heapAfter = await settledHeap(gc);

    const sum = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const violations = [
      ...broken,
      ...doubles.slice(0, 10),
      ...(doubles.length > 10 ? [`… and ${doubles.length - 10} more double executions`] : []),
      ...unhandled.map((u) => `unhandled rejection or exception: ${u.split("\n")[0]}`),
      ...(sum(watch.opens) === 0 ? ["no circuit breaker opened under the 503 burst"] : []),
      ...(sum(watch.recoveries) === 0 ? ["no circuit breaker was seen closing again after opening"] : []),
      ...stuck.map((b) => `breaker ${b.name} is ${b.state} after the healthy recovery phase`),
      ...(heapAfter - heapBefore > HEAP_SLACK_BYTES ? [`heap grew from ${mb(heapBefore)} MB to ${mb(heapAfter)} MB after the load (allowed +${mb(HEAP_SLACK_BYTES)} MB)`] : []),
    ];
    return {
      tally: t,
      doubleExecutions: doubles,
      breakerOpens: sum(watch.opens),
      breakerRecoveries: sum(watch.recoveries),
      heapBeforeMb: mb(heapBefore),
      heapAfterMb: mb(heapAfter),
      unhandled,
      upstream: { ...upstream.served },
      violations,
    };
  } finally {
    await gateway.close();
    await upstream.close();
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUnhandled);
  }
}
