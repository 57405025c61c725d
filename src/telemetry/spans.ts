/**
 * Spans for the request and for every attempt, named and attributed per the
 * OpenTelemetry GenAI semantic conventions, plus detour.* attributes that say
 * why the gateway moved on. Only @opentelemetry/api is used here: with no SDK
 * installed every call is a no-op. Prompt and answer text are recorded only
 * with telemetry.include_content (gen_ai.input.messages, gen_ai.output.messages).
 */
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { AttemptOutcome, Decision, type Attempt } from "../../gen/detour/v1/result_pb.js";
import type { RequestContent } from "../gateway/observer.ts";

/** The tracer Detour uses unless a test passes its own. */
export function defaultTracer(): Tracer {
  return trace.getTracer("detour");
}

const DECISIONS: Record<number, string> = {
  [Decision.RETURN]: "return",
  [Decision.RETRY]: "retry",
  [Decision.FALLBACK]: "fallback",
  [Decision.FAIL]: "fail",
};

const OUTCOMES: Record<number, string> = {
  [AttemptOutcome.SUCCEEDED]: "succeeded",
  [AttemptOutcome.FAILED]: "failed",
  [AttemptOutcome.SKIPPED]: "skipped",
  [AttemptOutcome.CANCELLED]: "cancelled",
};

/** Starts the span of one gateway request; attempts are its children. */
export function startRequestSpan(tracer: Tracer, route: string, model: string, streaming: boolean, parent?: Context): { span: Span; ctx: Context } {
  const base = parent ?? context.active();
  const span = tracer.startSpan(`chat ${route || model}`, {
    kind: SpanKind.INTERNAL,
    attributes: {
      "gen_ai.operation.name": "chat",
      "detour.route": route,
      "detour.request.model": model,
      "detour.streaming": streaming,
    },
  }, base);
  return { span, ctx: withSpan(base, span) };
}

/**
 * The context for work under `span`. A no-op tracer's span is the parent's
 * span context again (or none): the parent context already carries it, so no
 * new context is built for it.
 */
export function withSpan(base: Context, span: Span): Context {
  if (span.isRecording()) return trace.setSpan(base, span);
  const sc = span.spanContext();
  return !isSpanContextValid(sc) || sc === trace.getSpanContext(base) ? base : trace.setSpan(base, span);
}

/** Starts the CLIENT span of one attempt. */
export function startAttemptSpan(tracer: Tracer, parent: Context, system: string, provider: string, model: string, startMs: number): Span {
  return tracer.startSpan(
    `chat ${model}`,
    {
      kind: SpanKind.CLIENT,
      startTime: startMs,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": system,
        "gen_ai.request.model": model,
        "detour.provider": provider,
      },
    },
    parent,
  );
}

/**
 * Ends an attempt span with what the trail says of the attempt; `message` is
 * its status text, which the caller has already fit for telemetry.
 */
export function endAttemptSpan(span: Span, a: Attempt, breakerState: string, message: string): void {
  // Nothing is recorded on a span that is not (no SDK, or not sampled).
  if (!span.isRecording()) return span.end();
  span.setAttributes({
    "detour.hop.index": a.index,
    "detour.attempt.retry": a.retry,
    "detour.outcome": OUTCOMES[a.outcome] ?? "unknown",
    "detour.decision": DECISIONS[a.decision] ?? "unknown",
    "detour.breaker.state": breakerState,
    "detour.cost_usd": a.costUsd,
  });
  if (a.outcome === AttemptOutcome.SUCCEEDED) span.setAttribute("gen_ai.response.model", a.target?.model ?? "");
  if (a.reason) {
    span.setAttributes({ "error.type": a.reason, "detour.reason": a.reason });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  if (a.upstreamStatus) span.setAttribute("http.response.status_code", a.upstreamStatus);
  if (a.ttft) span.setAttribute("detour.ttft_ms", durationMs(a.ttft));
  if (a.usage) {
    span.setAttributes({ "gen_ai.usage.input_tokens": a.usage.inputTokens, "gen_ai.usage.output_tokens": a.usage.outputTokens });
  }
  if (a.backoff) span.setAttribute("detour.backoff_ms", durationMs(a.backoff));
  const end = a.startTime && a.latency ? timestampMs(a.startTime) + durationMs(a.latency) : undefined;
  span.end(end);
}

/** What the request span records when the request ends. */
export interface RequestEnd {
  readonly attempts: readonly Attempt[];
  readonly servedBy?: { provider: string; model: string } | undefined;
  readonly answerUsd?: number;
  readonly wastedUsd?: number;
  readonly error?: { reason: string; message: string } | undefined;
  readonly content?: RequestContent | undefined;
}

/** Ends the request span. */
export function endRequestSpan(span: Span, end: RequestEnd): void {
  if (!span.isRecording()) return span.end();
  span.setAttributes({
    "detour.attempts": end.attempts.length,
    "detour.fallbacks": end.attempts.filter((a) => a.decision === Decision.FALLBACK).length,
  });
  if (end.servedBy) {
    span.setAttributes({ "detour.served_by.provider": end.servedBy.provider, "gen_ai.response.model": end.servedBy.model });
  }
  if (end.answerUsd !== undefined) span.setAttribute("detour.cost_usd", end.answerUsd);
  if (end.wastedUsd !== undefined) span.setAttribute("detour.wasted_cost_usd", end.wastedUsd);
  if (end.content) {
    span.setAttribute("gen_ai.input.messages", JSON.stringify(end.content.input));
    if (end.content.output) span.setAttribute("gen_ai.output.messages", JSON.stringify(end.content.output));
  }
  if (end.error) {
    span.setAttribute("error.type", end.error.reason);
    span.setStatus({ code: SpanStatusCode.ERROR, message: end.error.message });
  }
  span.end();
}
