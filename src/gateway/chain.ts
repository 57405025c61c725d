/**
 * The attempt loop: walks a request's targets until one answers, emitting
 * stream events as it goes. It is the only loop in Detour; unary calls run it
 * in buffered mode (nothing reaches the caller until an attempt succeeds, so
 * any failure can fall back) and streaming calls run it live.
 *
 * After a failed attempt the decision table says: retry the same target
 * (after a backoff, or the upstream's Retry-After when it fits the deadline;
 * while the target's retries and the route's retry budget last), fall back to
 * the next target, or fail. Every attempt, skip and wait is in the trail.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Context, Span, Tracer } from "@opentelemetry/api";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { AttemptOutcome, Decision, type Attempt } from "../../gen/detour/v1/result_pb.js";
import type { Breakers, Ticket } from "../breakers/breakers.ts";
import { GatewayError } from "../errors.ts";
import type { Providers } from "../providers/registry.ts";
import { isPriced } from "./quote.ts";
import { attemptRecord, newAttempt, runAttempt, type AttemptRun } from "./attempt.ts";
import type { PriceBook } from "./cost.ts";
import { eligibleTargets, noCandidates, worstCaseCost } from "./eligibility.ts";
import { contentEvent, hopEvent, startedEvent, toolCallEvent, type GatewayBatch, type GatewayEvent } from "./events.ts";
import { hedged, type Contender, type HedgeState } from "./hedge.ts";
import { commitReady, createToolCallGuard, deliver, delivered, deliveredText, newDelivery, resume } from "./commit.ts";
import { CommitPolicy } from "../../gen/detour/v1/chat_pb.js";
import { finalError, successEvents, withTrail } from "./outcome.ts";
import type { ProviderEvent } from "../providers/types.ts";
import { orderTargets } from "./order.ts";
import { requestFor, type Plan, type PlannedTarget } from "./plan.ts";
import { backoffMs, decide, type RetryBudget } from "./retry.ts";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { withholdUpstream } from "../upstream-text.ts";
import { endAttemptSpan, startAttemptSpan, withSpan } from "../telemetry/spans.ts";

/** One run of the chain. */
export interface ChainInput {
  readonly id: string;
  readonly plan: Plan;
  readonly request: CompleteRequest;
  readonly requestId: string;
  readonly signal: AbortSignal;
  /** Absolute deadline (epoch ms). */
  readonly deadline: number;
  /** Unary: hold output until an attempt succeeds. */
  readonly buffered: boolean;
  /** The request span's context: attempt spans are its children. */
  readonly trace: Context;
}

/** What the loop needs from the gateway. */
export interface ChainDeps {
  readonly providers: Providers;
  /** telemetry.include_content: without it, attempt spans withhold the upstreams' prose. */
  readonly includeContent: boolean;
  readonly prices: PriceBook;
  readonly breakers: Breakers;
  readonly budget: (route: string) => RetryBudget;
  readonly now: () => number;
  readonly random: () => number;
  readonly tracer: Tracer;
  /** Waits before a retry; aborted by the caller. */
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Runs the chain; yields events in batches (those of one upstream read go
 * together) and ends with Done, or throws a GatewayError.
 */
export async function* runChain(input: ChainInput, deps: ChainDeps): AsyncGenerator<GatewayBatch> {
  const { plan, request } = input;
  const attempts: Attempt[] = [];
  const spanFor = (target: PlannedTarget, at: number): Span =>
    startAttemptSpan(deps.tracer, input.trace, deps.providers.get(target.ref.provider)?.system ?? "unknown", target.ref.provider, target.ref.model, at);
  /** Adds an attempt to the trail and ends its span. */
  const record = (run: AttemptRun, span: Span, outcome: AttemptOutcome, decision: Decision, cost: number, backoff = 0): Attempt => {
    const a = attemptRecord(run, outcome, decision, cost, backoff);
    if (outcome !== AttemptOutcome.SKIPPED && !isPriced(deps.prices.pricing(run.target.id))) a.priceUnknown = true;
    attempts.push(a);
    const message = deps.includeContent ? a.message : withholdUpstream(a.message);
    endAttemptSpan(span, a, BREAKER_NAMES[deps.breakers.state(run.target.ref)] ?? "closed", message);
    return a;
  };
  const wait = deps.wait ?? ((ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }));
  const eligibility = eligibleTargets(plan.targets, plan, request, !input.buffered, deps.providers, deps.prices);
  const ordered = orderTargets(plan, deps.random, (t) => worstCaseCost(t, eligibility.needs, deps.providers, deps.prices));
  for (const s of eligibility.setAside) {
    const run = newAttempt(s.target, attempts.length, 0, deps.now());
    run.failure = new GatewayError(s.reason, s.why, { hop: s.target.ref });
    record(run, spanFor(s.target, run.startedAt), AttemptOutcome.SKIPPED, Decision.FALLBACK, 0);
  }
  const fit = new Set(eligibility.candidates);
  const targets = ordered.filter((t) => fit.has(t));
  const first = targets[0];
  if (!first) throw withTrail(noCandidates(eligibility.setAside), attempts, input.id);
  yield [startedEvent(input.id, plan.route, first.ref)];

  const budget = deps.budget(plan.route || `direct:${first.id}`);
  const maxHops = Math.min(plan.maxHops, request.routing?.maxHops || Infinity);
  let hops = 0;
  let wasted = 0;
  // What reached the caller, and the request later attempts send (a
  // continuation carries the delivered text as a prefix).
  let delivery = newDelivery();
  let ongoing = request;
  let guard = createToolCallGuard([]);
  const policy = request.routing?.commitPolicy || plan.commitPolicy;
  const prefillOf = (t: PlannedTarget) => deps.providers.get(t.ref.provider)?.describe(t.ref.model)?.capabilities.prefill === true;
  let last: GatewayError | undefined;
  // After a context-length failure only a target with a bigger window may try.
  let outgrown = 0;
  const windowOf = (t: PlannedTarget) => deps.providers.get(t.ref.provider)?.describe(t.ref.model)?.capabilities.contextWindow ?? 0;

  let seq = attempts.length;
  /** One running attempt: its record, span and breaker ticket. */
  interface Live {
    readonly run: AttemptRun;
    readonly span: Span;
    readonly ticket: Ticket;
  }
  /** Starts the rival of a hedged attempt, unless its breaker is open or hops ran out. */
  const startRival = (rival: PlannedTarget, laterAfter: number): Contender<Live> | undefined => {
    if (hops >= maxHops) return undefined;
    const provider = deps.providers.get(rival.ref.provider);
    let ticket: Ticket;
    try {
      ticket = deps.breakers.admit(rival.ref);
    } catch {
      return undefined;
    }
    if (!provider) return undefined;
    hops++;
    const run = newAttempt(rival, seq++, 0, deps.now());
    const live: Live = { run, span: spanFor(rival, run.startedAt), ticket };
    const sliceEnd = sliceEndOf(input.deadline, deps.now(), laterAfter, plan.minSliceMs);
    const ctx = { provider, request: requestFor(ongoing, rival), requestId: input.requestId, signal: input.signal, deadline: input.deadline, sliceEnd, now: deps.now, trace: withSpan(input.trace, live.span) };
    return { tag: live, events: runAttempt(run, ctx), cancel: () => run.abort?.(hedgeLost(rival)) };
  };
  /** Records the attempt that lost a hedge race (or failed during it). */
  const recordLoser = (loser: Live, failure: unknown, movedOn: boolean) => {
    const { run } = loser;
    run.failure ??= failure instanceof GatewayError ? failure : hedgeLost(run.target);
    run.endedAt ??= deps.now();
    loser.ticket.settle(run.failure);
    // The loser consumed its prompt even when cancelled: count at least that.
    const cost = run.usage ? deps.prices.cost(run.target.id, run.usage) : promptCost(run.target);
    wasted += cost;
    const outcome = run.failure.reason === "HEDGE_LOST" ? AttemptOutcome.CANCELLED : AttemptOutcome.FAILED;
    record(run, loser.span, outcome, movedOn ? Decision.FALLBACK : Decision.UNSPECIFIED, cost);
  };
  const promptCost = (t: PlannedTarget) => (deps.prices.pricing(t.id)?.inputPerMtok ?? 0) * eligibility.needs.inputTokens / 1e6;

  for (let ti = 0; ti < targets.length; ti++) {
    let target = targets[ti] as PlannedTarget;
    let next = targets[ti + 1];
    if (outgrown > 0 && windowOf(target) > 0 && windowOf(target) <= outgrown) {
      const run = newAttempt(target, seq++, 0, deps.now());
      run.failure = new GatewayError("CONTEXT_LENGTH_EXCEEDED", `${target.id} has a context window of ${windowOf(target)} tokens, no bigger than the one the prompt already overflowed`, { hop: target.ref });
      record(run, spanFor(target, run.startedAt), AttemptOutcome.SKIPPED, next ? Decision.FALLBACK : Decision.FAIL, 0);
      continue;
    }
    for (let retry = 0; ; retry++) {
      if (hops >= maxHops) throw finalError(last ?? tooManyHops(), attempts, input.id, undefined, `the route's max_hops (${maxHops}) was reached`);
      hops++;
      let run = newAttempt(target, seq++, retry, deps.now());
      let span = spanFor(target, run.startedAt);
      let ticket: Ticket;
      try {
        ticket = deps.breakers.admit(target.ref);
      } catch (e) {
        run.failure = e as GatewayError;
        record(run, span, AttemptOutcome.SKIPPED, next ? Decision.FALLBACK : Decision.FAIL, 0);
        last = run.failure;
        if (next) yield [hopEvent({ from: target.ref, to: next.ref, reason: run.failure.reason, attemptIndex: run.index })];
        break;
      }
      const provider = deps.providers.get(target.ref.provider);
      const sliceEnd = sliceEndOf(input.deadline, deps.now(), targets.length - ti - 1, plan.minSliceMs);
      const held: GatewayEvent[] = [];
      const pendingOut: ProviderEvent[] = [];
      const first: Live = { run, span, ticket };
      const race: HedgeState<Live> = { winner: undefined };
      /** After a hedge, the winner is the attempt; the loop follows its target. */
      const follow = () => {
        const w = race.winner;
        if (!w || w === first) return;
        ({ run, span, ticket } = w);
        target = w.run.target;
        ti = targets.indexOf(target);
        next = targets[ti + 1];
      };
      let announced = false;
      let ended = false;
      try {
        if (!provider) throw new GatewayError("UNKNOWN_MODEL", `no provider named "${target.ref.provider}"`, { hop: target.ref });
        const ctx = { provider, request: requestFor(ongoing, target), requestId: input.requestId, signal: input.signal, deadline: input.deadline, sliceEnd, now: deps.now, trace: withSpan(input.trace, span), buffered: input.buffered };
        const rival = next;
        const hedge = retry === 0 && plan.hedging && target.ttftTimeoutMs > 0 && rival !== undefined;
        const source: AsyncIterable<readonly ProviderEvent[]> = hedge
          ? hedged<Live>(
              { tag: first, events: runAttempt(run, { ...ctx, hedged: true }), cancel: () => first.run.abort?.(hedgeLost(first.run.target)) },
              target.ttftTimeoutMs,
              () => startRival(rival, targets.length - ti - 2),
              (loser, failure) => recordLoser(loser, failure, loser === first),
              race,
            )
          : runAttempt(run, ctx);
        for await (const batch of source) {
          // What this batch hands on, yielded at once after it.
          const outs: GatewayEvent[] = [];
          if (race.winner && race.winner !== first && !announced) {
            announced = true;
            const from = target.ref;
            follow();
            outs.push(hopEvent({ from, to: target.ref, reason: "TTFT_TIMEOUT", attemptIndex: first.run.index }));
          }
          for (const ev of batch) for (const out of guard.filter(ev)) {
            const gev = toEvent(out);
            if (!gev) continue;
            if (input.buffered) {
              held.push(gev);
              continue;
            }
            // Hold the first output until the commit buffer is full: a
            // failure before then falls back with nothing delivered.
            if (!delivered(delivery) && !commitReady(plan.commitBuffer, held.length + 1, run.firstTokenAt, deps.now())) {
              held.push(gev);
              pendingOut.push(out);
              continue;
            }
            for (const p of pendingOut) deliver(delivery, p);
            pendingOut.length = 0;
            for (let i = 0; i < held.length; i++) outs.push(held[i] as GatewayEvent);
            held.length = 0;
            deliver(delivery, out);
            outs.push(gev);
          }
          if (outs.length > 0) yield outs;
        }
        ended = true;
      } catch (e) {
        ended = true;
        follow();
        const failure = run.failure ?? (e instanceof GatewayError ? e : new GatewayError("INTERNAL", "internal error", { cause: e }));
        run.failure = failure;
        run.endedAt ??= deps.now();
        ticket.settle(failure);
        budget.onFailure();
        last = failure;
        const cost = deps.prices.cost(target.id, run.usage);
        wasted += cost;
        const committed = delivered(delivery);
        if (failure.reason === "CONTEXT_LENGTH_EXCEEDED") outgrown = Math.max(outgrown, windowOf(target) || 1);
        const action = committed && policy === CommitPolicy.FAIL ? "fail" : decide(failure, plan, target, retry, budget);
        const sent = { chars: delivery.chars, toolCalls: delivery.calls.size };
        /** Sets up the next attempt to pick up after delivered output, and says how in the hop. */
        const resumeOn = (to: PlannedTarget) => {
          if (!committed) return hopEvent({ from: target.ref, to: to.ref, reason: failure.reason, attemptIndex: run.index });
          const r = resume(policy, delivery, request, prefillOf(to));
          ongoing = r.request;
          guard = createToolCallGuard(r.kept);
          delivery = newDelivery(r.rewind ? "" : deliveredText(delivery), new Map(r.kept.map((c, i) => [i, c])));
          return hopEvent({
            from: target.ref,
            to: to.ref,
            reason: failure.reason,
            attemptIndex: run.index,
            rewind: r.rewind,
            policy: r.rewind ? CommitPolicy.RESTART : policy,
            deliveredChars: sent.chars,
            keptToolCallIds: r.kept.map((c) => c.id),
          });
        };
        const outcome = failure.reason === "CANCELLED" ? AttemptOutcome.CANCELLED : AttemptOutcome.FAILED;
        if (action === "retry") {
          const pause = failure.retryAfterMs ?? backoffMs(plan.retry, retry + 1, deps.random);
          // A Retry-After longer than the time left is not worth waiting for.
          if (deps.now() + pause < sliceEnd) {
            record(run, span, outcome, Decision.RETRY, cost, pause);
            yield [resumeOn(target)];
            if (pause > 0) await wait(pause, input.signal).catch(() => undefined);
            if (input.signal.aborted) throw finalError(new GatewayError("CANCELLED", "the caller cancelled the call"), attempts, input.id);
            continue;
          }
        }
        if (action === "fail" || !next) {
          record(run, span, outcome, Decision.FAIL, cost);
          throw finalError(failure, attempts, input.id, committed ? sent : undefined);
        }
        record(run, span, outcome, Decision.FALLBACK, cost);
        yield [resumeOn(next)];
        break;
      } finally {
        // The consumer stopped reading mid-attempt (its caller went away):
        // the breaker admission still ends, or a half-open breaker would
        // wait for this probe forever.
        if (!ended) {
          follow();
          ticket.settle(new GatewayError("CANCELLED", "the caller stopped reading"));
        }
      }
      follow();
      ticket.settle();
      budget.onSuccess();
      const cost = deps.prices.cost(target.id, run.usage);
      record(run, span, AttemptOutcome.SUCCEEDED, Decision.RETURN, cost);
      // The output still held (a buffered call's whole answer), then Done, in one batch.
      held.push(...successEvents(input.id, plan.route, run, attempts, cost, wasted));
      yield held;
      return;
    }
  }
  throw finalError(last ?? tooManyHops(), attempts, input.id);
}

/** A provider's output event as a stream event (usage and finish travel in Done). */
function toEvent(ev: ProviderEvent): GatewayEvent | undefined {
  if (ev.type === "text") return contentEvent(ev.text);
  if (ev.type === "tool_call") return toolCallEvent(ev.index, ev.id ?? "", ev.name ?? "", ev.arguments);
  return undefined;
}

/**
 * When an attempt must end so every later target keeps its min_slice; when
 * the time left cannot cover that, it is shared equally instead.
 */
export function sliceEndOf(deadline: number, now: number, later: number, minSliceMs: number): number {
  if (later === 0) return deadline;
  const left = deadline - now;
  const reserve = later * minSliceMs;
  return left - reserve >= minSliceMs ? deadline - reserve : now + left / (later + 1);
}

function hedgeLost(t: PlannedTarget): GatewayError {
  return new GatewayError("HEDGE_LOST", "a hedged rival produced the first token", { hop: t.ref });
}

const BREAKER_NAMES: Record<number, string> = {
  [BreakerState.CLOSED]: "closed",
  [BreakerState.OPEN]: "open",
  [BreakerState.HALF_OPEN]: "half_open",
};

function tooManyHops(): GatewayError {
  return new GatewayError("UPSTREAM_UNAVAILABLE", "no attempt could be made");
}
