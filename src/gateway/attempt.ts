/**
 * One attempt: a single call to one target, with its own AbortController,
 * bounded by the chain's deadline and the target's time-to-first-token, total
 * and inter-token timeouts. Whatever ends the attempt — the caller, a timer,
 * the upstream — is recorded as a GatewayError on `failure`.
 */
import type { Context } from "@opentelemetry/api";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import {
  AttemptOutcome,
  FinishReason,
  type Attempt,
  type Decision,
  type Usage,
} from "../../gen/detour/v1/result_pb.js";
import { MAX_TIMER_MS } from "../config/duration.ts";
import { GatewayError, toGatewayError } from "../errors.ts";
import { durationOf, timestampOf } from "../literals.ts";
import type { Provider, ProviderEvent } from "../providers/types.ts";
import { onTime } from "./on-time.ts";
import type { PlannedTarget } from "./plan.ts";

/** The state of one attempt, read by the loop after it ends. */
export interface AttemptRun {
  readonly target: PlannedTarget;
  readonly index: number;
  readonly retry: number;
  readonly startedAt: number;
  firstTokenAt: number | undefined;
  endedAt: number | undefined;
  usage: Usage | undefined;
  finish: FinishReason;
  failure: GatewayError | undefined;
  /** Aborts the running attempt (set while it runs). */
  abort?: (e: GatewayError) => void;
}

/** What an attempt needs from its surroundings. */
export interface AttemptContext {
  readonly provider: Provider;
  readonly request: CompleteRequest;
  readonly requestId: string;
  /** The caller's signal: aborting it cancels the attempt. */
  readonly signal: AbortSignal;
  /** The chain's absolute deadline (epoch ms). */
  readonly deadline: number;
  /** When this attempt must end to leave the later targets their slice. */
  readonly sliceEnd: number;
  /** Hedged: the TTFT threshold starts a rival instead of aborting this attempt. */
  readonly hedged?: boolean;
  /** The attempt span's context, for propagation upstream. */
  readonly trace?: Context;
  /** The caller wants the whole answer at once (a unary call), not events as they come. */
  readonly buffered?: boolean;
  readonly now: () => number;
}

/** Creates the record of an attempt about to start. */
export function newAttempt(target: PlannedTarget, index: number, retry: number, now: number): AttemptRun {
  return {
    target,
    index,
    retry,
    startedAt: now,
    firstTokenAt: undefined,
    endedAt: undefined,
    usage: undefined,
    finish: FinishReason.UNSPECIFIED,
    failure: undefined,
  };
}

/**
 * Runs the attempt, yielding the provider's output events in its batches.
 * Throws the attempt's GatewayError on failure (also stored on `run.failure`).
 */
export async function* runAttempt(run: AttemptRun, ctx: AttemptContext): AsyncGenerator<readonly ProviderEvent[]> {
  const { target } = run;
  const ctl = new AbortController();
  const abort = (e: GatewayError) => {
    if (!ctl.signal.aborted) ctl.abort(e);
  };
  run.abort = abort;
  const onCallerAbort = () => abort(new GatewayError("CANCELLED", "the caller cancelled the call"));
  if (ctx.signal.aborted) onCallerAbort();
  else ctx.signal.addEventListener("abort", onCallerAbort, { once: true });

  const hop = target.ref;
  const timers: NodeJS.Timeout[] = [];
  const totalEnd = target.totalTimeoutMs > 0 ? run.startedAt + target.totalTimeoutMs : Infinity;
  const end = Math.min(ctx.deadline, ctx.sliceEnd, totalEnd);
  const timeout = (): GatewayError => {
    if (end === ctx.deadline) return new GatewayError("DEADLINE_EXCEEDED", "the call's deadline passed", { hop });
    if (end === totalEnd) return new GatewayError("UPSTREAM_TIMEOUT", `no complete answer within total_timeout ${target.totalTimeoutMs}ms`, { hop });
    return new GatewayError("UPSTREAM_TIMEOUT", "no answer in time to leave the next targets their min_slice", { hop });
  };
  // A deadline past setTimeout's range would otherwise fire at once.
  timers.push(setTimeout(() => abort(timeout()), Math.min(MAX_TIMER_MS, Math.max(0, end - ctx.now()))));
  const ttftTimer =
    target.ttftTimeoutMs > 0 && !ctx.hedged
      ? onTime(target.ttftTimeoutMs, () => abort(new GatewayError("TTFT_TIMEOUT", `no first token within ttft_timeout ${target.ttftTimeoutMs}ms`, { hop })))
      : undefined;
  let gapTimer: NodeJS.Timeout | undefined;
  const armGap = () => {
    if (target.interTokenTimeoutMs <= 0) return;
    if (gapTimer) gapTimer.refresh();
    else {
      gapTimer = setTimeout(
        () => abort(new GatewayError("INTER_TOKEN_TIMEOUT", `the stream was silent for ${target.interTokenTimeoutMs}ms`, { hop })),
        target.interTokenTimeoutMs,
      );
    }
  };

  // Set once the upstream's stream ended on its own, or failed: nothing is
  // left to cancel, and aborting anyway costs an error and an abort event.
  let drained = false;
  try {
    const events = ctx.provider.stream({
      request: ctx.request,
      model: target.ref.model,
      signal: ctl.signal,
      deadline: end,
      requestId: ctx.requestId,
      trace: ctx.trace,
      // Only a threshold on the first token or the gaps needs the answer as
      // it comes; otherwise a unary call takes the vendor's whole JSON answer,
      // which is far cheaper to carry than dozens of SSE chunks.
      stream: !ctx.buffered || ctx.hedged === true || target.ttftTimeoutMs > 0 || target.interTokenTimeoutMs > 0,
    });
    for await (const batch of events) {
      if (ctl.signal.aborted) throw ctl.signal.reason;
      let tokens = false;
      for (const ev of batch) {
        if (ev.type === "text" || ev.type === "tool_call") tokens = true;
        else if (ev.type === "usage") run.usage = ev.usage;
        else if (ev.type === "finish") run.finish = ev.reason;
      }
      if (tokens) {
        if (run.firstTokenAt === undefined) {
          run.firstTokenAt = ctx.now();
          ttftTimer?.cancel();
        }
        armGap();
      }
      yield batch;
    }
    if (ctl.signal.aborted) throw ctl.signal.reason;
    if (run.finish === FinishReason.UNSPECIFIED) {
      throw new GatewayError("STREAM_DROPPED", "the upstream ended without a finish reason", { hop });
    }
    drained = true;
  } catch (e) {
    // Not aborted: the provider's generator threw, so it has ended and its
    // call with it (a failed hop, on every failover): nothing to cancel.
    if (!ctl.signal.aborted) drained = true;
    run.failure = ctl.signal.aborted ? toGatewayError(ctl.signal.reason) : withHop(toGatewayError(e), run);
    throw run.failure;
  } finally {
    run.endedAt = ctx.now();
    for (const t of timers) clearTimeout(t);
    ttftTimer?.cancel();
    if (gapTimer) clearTimeout(gapTimer);
    ctx.signal.removeEventListener("abort", onCallerAbort);
    // Ends the upstream call if the attempt stops early for any reason,
    // including the consumer returning from the loop.
    if (!drained) abort(new GatewayError("CANCELLED", "the attempt ended"));
  }
}

function withHop(e: GatewayError, run: AttemptRun): GatewayError {
  if (e.hop) return e;
  return new GatewayError(e.reason, e.message, {
    hop: run.target.ref,
    upstreamStatus: e.upstreamStatus,
    ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
    cause: e,
  });
}

/** The attempt as it appears in the trail. */
export function attemptRecord(
  run: AttemptRun,
  outcome: AttemptOutcome,
  decision: Decision,
  costUsd: number,
  backoffMs = 0,
): Attempt {
  const end = run.endedAt ?? run.startedAt;
  // A typed literal: create() walks the schema, several times the cost, on
  // every request (a test checks this equals what create() makes).
  const a: Attempt = {
    $typeName: "detour.v1.Attempt",
    index: run.index,
    target: run.target.ref,
    retry: run.retry,
    outcome,
    reason: outcome === AttemptOutcome.SUCCEEDED ? "" : (run.failure?.reason ?? ""),
    message: run.failure?.message ?? "",
    decision,
    startTime: timestampOf(run.startedAt),
    latency: durationOf(end - run.startedAt),
    costUsd,
    upstreamStatus: run.failure?.upstreamStatus ?? 0,
    priceUnknown: false,
  };
  if (run.firstTokenAt !== undefined) a.ttft = durationOf(run.firstTokenAt - run.startedAt);
  if (run.usage) a.usage = run.usage;
  if (backoffMs > 0) a.backoff = durationOf(backoffMs);
  return a;
}
