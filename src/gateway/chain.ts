/**
 * The attempt loop: walks a plan's targets until one answers, emitting stream
 * events as it goes. It is the only loop in Detour; unary calls run it in
 * buffered mode (nothing reaches the caller until an attempt succeeds, so any
 * failure can fall back) and streaming calls run it live.
 */
import { create } from "@bufbuild/protobuf";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { AttemptOutcome, CostSchema, Decision, type Attempt } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.js";
import type { Providers } from "../providers/registry.js";
import { attemptRecord, newAttempt, runAttempt, type AttemptRun } from "./attempt.js";
import type { PriceBook } from "./cost.js";
import { contentEvent, doneEvent, hopEvent, startedEvent, toolCallEvent, usageEvent, type GatewayEvent } from "./events.js";
import type { Plan, PlannedTarget } from "./plan.js";

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
}

/** What the loop needs from the gateway. */
export interface ChainDeps {
  readonly providers: Providers;
  readonly prices: PriceBook;
  readonly now: () => number;
}

/** Runs the chain; yields events and ends with Done, or throws a GatewayError. */
export async function* runChain(input: ChainInput, deps: ChainDeps): AsyncGenerator<GatewayEvent> {
  const { plan } = input;
  const attempts: Attempt[] = [];
  const steps = schedule(plan.targets);
  let wasted = 0;
  let delivered = { chars: 0, toolCalls: 0 };
  const first = steps[0];
  if (!first) throw new GatewayError("INTERNAL", "the plan has no targets");
  yield startedEvent(input.id, plan.route, first.target.ref);

  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    const next = steps[i + 1];
    const run = newAttempt(step.target, attempts.length, step.retry, deps.now());
    const provider = deps.providers.get(step.target.ref.provider);
    const held: GatewayEvent[] = [];
    try {
      if (!provider) {
        throw new GatewayError("UNKNOWN_MODEL", `no provider named "${step.target.ref.provider}"`, { hop: step.target.ref });
      }
      const ctx = { provider, request: input.request, requestId: input.requestId, signal: input.signal, deadline: input.deadline, now: deps.now };
      for await (const ev of runAttempt(run, ctx)) {
        let out: GatewayEvent | undefined;
        if (ev.type === "text") {
          out = contentEvent(ev.text);
          if (!input.buffered) delivered = { ...delivered, chars: delivered.chars + ev.text.length };
        } else if (ev.type === "tool_call") {
          out = toolCallEvent(ev.index, ev.id ?? "", ev.name ?? "", ev.arguments);
          if (!input.buffered && ev.id) delivered = { ...delivered, toolCalls: delivered.toolCalls + 1 };
        }
        if (!out) continue;
        if (input.buffered) held.push(out);
        else yield out;
      }
    } catch (e) {
      const failure = run.failure ?? (e instanceof GatewayError ? e : new GatewayError("INTERNAL", "internal error", { cause: e }));
      run.failure = failure;
      run.endedAt ??= deps.now();
      const cost = deps.prices.cost(step.target.id, run.usage);
      wasted += cost;
      const committed = delivered.chars > 0 || delivered.toolCalls > 0;
      const decision = decide(failure, step, next, committed);
      const outcome = failure.reason === "CANCELLED" ? AttemptOutcome.CANCELLED : AttemptOutcome.FAILED;
      attempts.push(attemptRecord(run, outcome, decision, cost));
      if (decision === Decision.FAIL) throw finalError(failure, attempts, input.id, committed ? delivered : undefined);
      const to = (next as Step).target.ref;
      yield hopEvent({ from: step.target.ref, to, reason: failure.reason, attemptIndex: run.index });
      continue;
    }
    const cost = deps.prices.cost(step.target.id, run.usage);
    attempts.push(attemptRecord(run, AttemptOutcome.SUCCEEDED, Decision.RETURN, cost));
    yield* held;
    if (run.usage) yield usageEvent(run.usage);
    yield doneEvent({
      id: input.id,
      finishReason: run.finish,
      usage: run.usage,
      cost: create(CostSchema, { answerUsd: cost, wastedUsd: wasted, totalUsd: cost + wasted }),
      servedBy: step.target.ref,
      route: plan.route,
      attempts,
    });
    return;
  }
  throw new GatewayError("INTERNAL", "the attempt loop ended without an answer");
}

interface Step {
  readonly target: PlannedTarget;
  readonly retry: number;
}

/** The order of calls: each target, then its retries, then the next target. */
function schedule(targets: readonly PlannedTarget[]): Step[] {
  const steps: Step[] = [];
  for (const target of targets) for (let retry = 0; retry <= target.retries; retry++) steps.push({ target, retry });
  return steps;
}

function decide(failure: GatewayError, step: Step, next: Step | undefined, committed: boolean): Decision {
  if (!next || committed || failure.action === "fail") return Decision.FAIL;
  return next.target === step.target ? Decision.RETRY : Decision.FALLBACK;
}

/** The chain's error: the last failure's class, with the whole trail. */
function finalError(
  last: GatewayError,
  attempts: Attempt[],
  id: string,
  delivered: { chars: number; toolCalls: number } | undefined,
): GatewayError {
  const failed = attempts.filter((a) => a.outcome !== AttemptOutcome.SUCCEEDED);
  let message = last.message;
  if (delivered) {
    message = `${last.message} after ${delivered.chars} characters and ${delivered.toolCalls} tool calls were delivered`;
  } else if (failed.length > 1) {
    const parts = failed.map((a) => `${a.target?.provider}/${a.target?.model}: ${a.reason} (${a.message})`);
    message = `all ${failed.length} attempts failed: ${parts.join("; ")}`;
  }
  const retryAfter = failed.length > 0 && failed.every((a) => a.reason === "RATE_LIMITED") ? last.retryAfterMs : undefined;
  return new GatewayError(last.reason, message, {
    ...(last.hop ? { hop: last.hop } : {}),
    upstreamStatus: last.upstreamStatus,
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    attempts,
    id,
    ...(delivered ? { delivered } : {}),
    ...(last.field ? { field: last.field } : {}),
    cause: last,
  });
}

export type { AttemptRun };
