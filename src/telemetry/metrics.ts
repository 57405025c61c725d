/**
 * Metrics, through @opentelemetry/api only (sdk.ts decides where they go:
 * Prometheus at /metrics, OTLP when configured): requests by route and
 * outcome, latency and TTFT per target, fallbacks from → to and why, breaker
 * state per target, tokens and cost per route and provider, replays.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Meter } from "@opentelemetry/api";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { AttemptOutcome, Decision } from "../../gen/detour/v1/result_pb.js";
import type { Breakers } from "../breakers/breakers.ts";
import type { GatewayObserver } from "../gateway/observer.ts";

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OUTCOMES: Record<number, string> = {
  [AttemptOutcome.SUCCEEDED]: "succeeded",
  [AttemptOutcome.FAILED]: "failed",
  [AttemptOutcome.SKIPPED]: "skipped",
  [AttemptOutcome.CANCELLED]: "cancelled",
};

/** An observer that records the gateway's metrics on `meter`. */
export function metricsObserver(meter: Meter, breakers: () => Breakers): GatewayObserver {
  const requests = meter.createCounter("detour.requests", { description: "Requests, by route and outcome" });
  const duration = meter.createHistogram("detour.request.duration", { unit: "s", description: "Request latency", advice: { explicitBucketBoundaries: BOUNDS } });
  const attempts = meter.createHistogram("detour.attempt.duration", { unit: "s", description: "Attempt latency, per target", advice: { explicitBucketBoundaries: BOUNDS } });
  const ttft = meter.createHistogram("detour.attempt.ttft", { unit: "s", description: "Time to first token, per target", advice: { explicitBucketBoundaries: BOUNDS } });
  const fallbacks = meter.createCounter("detour.fallbacks", { description: "Moves from one target to another, by reason" });
  const tokens = meter.createCounter("detour.tokens", { description: "Tokens of answers, by route, provider and direction" });
  const cost = meter.createCounter("detour.cost", { unit: "USD", description: "Cost of answers and of wasted hops" });
  const replays = meter.createCounter("detour.idempotent.replays", { description: "Repeats of a request ID answered without a new execution" });
  meter.createObservableGauge("detour.breaker.state", { description: "0 closed, 1 half-open, 2 open" }).addCallback((obs) => {
    for (const b of breakers().list()) {
      const v = b.state === BreakerState.OPEN ? 2 : b.state === BreakerState.HALF_OPEN ? 1 : 0;
      obs.observe(v, { provider: b.target?.provider ?? "", model: b.target?.model || "*" });
    }
  });

  return {
    onRequest(r) {
      const route = r.route || "direct";
      requests.add(1, { route, outcome: r.outcome });
      duration.record(r.latencyMs / 1000, { route, outcome: r.outcome });
      r.attempts.forEach((a, i) => {
        const target = { provider: a.target?.provider ?? "", model: a.target?.model ?? "" };
        if (a.outcome !== AttemptOutcome.SKIPPED && a.latency) attempts.record(durationMs(a.latency) / 1000, { ...target, outcome: OUTCOMES[a.outcome] ?? "" });
        if (a.ttft) ttft.record(durationMs(a.ttft) / 1000, target);
        const next = r.attempts[i + 1];
        if (a.decision === Decision.FALLBACK && next) {
          fallbacks.add(1, { route, from: `${target.provider}/${target.model}`, to: `${next.target?.provider}/${next.target?.model}`, reason: a.reason });
        }
      });
      const provider = r.servedBy?.provider ?? "";
      if (r.usage) {
        tokens.add(r.usage.inputTokens, { route, provider, direction: "input" });
        tokens.add(r.usage.outputTokens, { route, provider, direction: "output" });
      }
      if (r.answerUsd > 0) cost.add(r.answerUsd, { route, provider, kind: "answer" });
      if (r.wastedUsd > 0) cost.add(r.wastedUsd, { route, kind: "wasted" });
    },
    onReplay(route) {
      replays.add(1, { route: route || "direct" });
    },
  };
}
