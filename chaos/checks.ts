/**
 * The chaos suite's verdicts over what clients saw and what the upstream
 * saw: every request ended in a success or a typed error within its deadline
 * (no hang, no cut, no untyped error), and no request ID was executed twice.
 */
import type { Outcome } from "./client.ts";
import type { KeyRecord } from "./fault-upstream.ts";

/** Counts of a run's outcomes. */
export interface Tally {
  requests: number;
  successes: number;
  /** Typed errors by reason. */
  typed: Record<string, number>;
  hangs: number;
  /** Ended, but later than the deadline plus grace. */
  late: number;
  /** Untyped errors, cut streams and dropped connections, by kind. */
  broken: Record<string, number>;
  replayed: number;
  /** Callers that went away early, by design. */
  cancelled: number;
}

/** Counts outcomes; `deadlineMs + graceMs` is the latest acceptable end. */
export function tally(outcomes: readonly Outcome[], deadlineMs: number, graceMs: number): Tally {
  const t: Tally = { requests: 0, successes: 0, typed: {}, hangs: 0, late: 0, broken: {}, replayed: 0, cancelled: 0 };
  for (const o of outcomes) {
    t.requests++;
    if (o.replayed) t.replayed++;
    if (o.kind === "success") t.successes++;
    else if (o.kind === "typed_error") t.typed[o.reason] = (t.typed[o.reason] ?? 0) + 1;
    else if (o.kind === "hang") t.hangs++;
    else if (o.kind === "cancelled") t.cancelled++;
    else t.broken[o.kind] = (t.broken[o.kind] ?? 0) + 1;
    if (o.kind !== "hang" && o.latencyMs > deadlineMs + graceMs) t.late++;
  }
  return t;
}

/** Problems a tally shows, as sentences (empty when there are none). */
export function tallyViolations(t: Tally, outcomes: readonly Outcome[], deadlineMs: number, graceMs: number): string[] {
  const out: string[] = [];
  if (t.hangs > 0) out.push(`${t.hangs} requests hung (no end before the client's timeout)`);
  if (t.late > 0) {
    const worst = Math.max(...outcomes.filter((o) => o.kind !== "hang").map((o) => o.latencyMs));
    out.push(`${t.late} requests ended after their ${deadlineMs}ms deadline + ${graceMs}ms grace (worst ${Math.round(worst)}ms)`);
  }
  for (const [kind, n] of Object.entries(t.broken)) {
    const sample = outcomes.find((o) => o.kind === kind);
    out.push(`${n} requests ended with ${kind}, e.g. ${sample?.stream ? "stream" : "unary"} ${sample?.model}: ${sample?.reason}`);
  }
  return out;
}

/**
 * Double executions of one Idempotency-Key: more than one execution's
 * answer, more than one caller told its answer was fresh, a caller arriving
 * after an answer that did not get it replayed, or an upstream call for the
 * key after a caller had its answer (a replay never calls upstream).
 */
export function doubleExecutions(outcomes: readonly Outcome[], upstream: ReadonlyMap<string, KeyRecord>): string[] {
  const byKey = new Map<string, Outcome[]>();
  for (const o of outcomes) if (o.key) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
  const out: string[] = [];
  for (const [key, list] of byKey) {
    const wins = list.filter((o) => o.kind === "success");
    const answers = new Set(wins.map((o) => o.executionId));
    if (answers.size > 1) out.push(`key ${key}: ${answers.size} different executions answered (${[...answers].join(", ")})`);
    const fresh = wins.filter((o) => !o.replayed).length;
    if (fresh > 1) out.push(`key ${key}: ${fresh} callers got a fresh (not replayed) answer`);
    const firstEnd = Math.min(...wins.map((o) => o.endedAt));
    const [answer] = answers;
    for (const o of list) {
      if (o.sentAt > firstEnd && !(o.kind === "success" && o.replayed && o.executionId === answer)) {
        out.push(`key ${key}: a caller after the answer got ${o.kind} ${o.reason || o.executionId}${o.replayed ? " (replayed)" : ""} instead of its replay`);
      }
    }
    const lastCall = upstream.get(key)?.lastCallAt ?? 0;
    if (lastCall > firstEnd) out.push(`key ${key}: the upstream was called ${lastCall - firstEnd}ms after a caller had the answer (trail: ${wins[0]?.trail})`);
  }
  return out;
}
