/**
 * Metrics, through @opentelemetry/api only (sdk.ts decides where they go:
 * Prometheus at /metrics, OTLP when configured): requests by route and
 * outcome, latency and TTFT per target, fallbacks from → to and why, breaker
 * state per target, tokens and cost per route and provider, replays.
 */
import { createLabelFold, OTHER_LABEL } from "./label-fold.ts";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Attributes, Meter, MetricOptions } from "@opentelemetry/api";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { AttemptOutcome, Decision } from "../../gen/detour/v1/result_pb.js";
import type { Breakers } from "../breakers/breakers.ts";
import type { GatewayObserver } from "../gateway/observer.ts";
import type { Histograms } from "./histograms.ts";
import { seriesOf } from "./series.ts";
import { keyJoiner } from "../join-key.ts";

/** Series keys: the attribute values joined by newlines. */
const join = keyJoiner("\n");

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OUTCOMES: Record<number, string> = {
  [AttemptOutcome.SUCCEEDED]: "succeeded",
  [AttemptOutcome.FAILED]: "failed",
  [AttemptOutcome.SKIPPED]: "skipped",
  [AttemptOutcome.CANCELLED]: "cancelled",
};

/**
 * A monotonic counter summed here and read by the SDK when it collects (an
 * observable counter, exported as any counter is). A synchronous counter
 * sorts and serialises its attribute set on every add, several times per
 * request; here an add is a Map lookup by a key the caller joins, and the
 * attribute object is built once per series (series.ts, with the SDK's
 * cardinality limit).
 */
function summedCounter(meter: Meter, name: string, options: MetricOptions) {
  const series = new Map<string, { readonly attributes: Attributes; value: number }>();
  meter.createObservableCounter(name, options).addCallback((obs) => {
    for (const s of series.values()) obs.observe(s.value, s.attributes);
  });
  const make = (a: Attributes) => ({ attributes: a, value: 0 });
  return (key: string, value: number, attributes: () => Attributes): void => {
    seriesOf(series, key, attributes, make).value += value;
  };
}

/** An observer that records the gateway's metrics on `meter` and `histograms` (see histograms.ts). */
export function metricsObserver(meter: Meter, histograms: Histograms, breakers: () => Breakers): GatewayObserver {
  const requests = summedCounter(meter, "detour.requests", { description: "Requests, by route and outcome" });
  const duration = histograms.histogram("detour.request.duration", { unit: "s", description: "Request latency", boundaries: BOUNDS });
  const attempts = histograms.histogram("detour.attempt.duration", { unit: "s", description: "Attempt latency, per target", boundaries: BOUNDS });
  const ttft = histograms.histogram("detour.attempt.ttft", { unit: "s", description: "Time to first token, per target", boundaries: BOUNDS });
  const fallbacks = summedCounter(meter, "detour.fallbacks", { description: "Moves from one target to another, by reason" });
  const tokens = summedCounter(meter, "detour.tokens", { description: "Tokens of answers, by route, provider and direction" });
  const cost = summedCounter(meter, "detour.cost", { unit: "USD", description: "Cost of answers and of wasted hops" });
  const replays = summedCounter(meter, "detour.idempotent.replays", { description: "Repeats of a request ID answered without a new execution" });
  meter.createObservableGauge("detour.breaker.state", { description: "0 closed, 1 half-open, 2 open" }).addCallback((obs) => {
    for (const b of breakers().list()) {
      const v = b.state === BreakerState.OPEN ? 2 : b.state === BreakerState.HALF_OPEN ? 1 : 0;
      obs.observe(v, { provider: b.target?.provider ?? "", model: b.target?.model || "*" });
    }
  });

  // Model labels: bounded, since a provider's allowed_models may let callers name any model.
  const foldModel = createLabelFold();
  const modelLabel = (provider: string, model: string) => (foldModel(join(provider, model)) === OTHER_LABEL ? OTHER_LABEL : model);
  return {
    onRequest(r) {
      const route = r.route || "direct";
      const routeOutcome = join(route, r.outcome);
      requests(routeOutcome, 1, () => ({ route, outcome: r.outcome }));
      duration(routeOutcome, r.latencyMs / 1000, () => ({ route, outcome: r.outcome }));
      r.attempts.forEach((a, i) => {
        const provider = a.target?.provider ?? "";
        const model = modelLabel(provider, a.target?.model ?? "");
        const at = join(provider, model);
        if (a.outcome !== AttemptOutcome.SKIPPED && a.latency) {
          const outcome = OUTCOMES[a.outcome] ?? "";
          attempts(join(at, outcome), durationMs(a.latency) / 1000, () => ({ provider, model, outcome }));
        }
        if (a.ttft) ttft(at, durationMs(a.ttft) / 1000, () => ({ provider, model }));
        const next = r.attempts[i + 1];
        if (a.decision === Decision.FALLBACK && next) {
          const from = `${provider}/${model}`;
          const to = `${next.target?.provider}/${modelLabel(next.target?.provider ?? "", next.target?.model ?? "")}`;
          fallbacks(`${route}\n${from}\n${to}\n${a.reason}`, 1, () => ({ route, from, to, reason: a.reason }));
        }
      });
      const provider = r.servedBy?.provider ?? "";
      const routeProvider = join(route, provider);
      if (r.usage) {
        tokens(join(routeProvider, "input"), r.usage.inputTokens, () => ({ route, provider, direction: "input" }));
        tokens(join(routeProvider, "output"), r.usage.outputTokens, () => ({ route, provider, direction: "output" }));
      }
      if (r.answerUsd > 0) cost(join(routeProvider, "answer"), r.answerUsd, () => ({ route, provider, kind: "answer" }));
      if (r.wastedUsd > 0) cost(join(join(route, ""), "wasted"), r.wastedUsd, () => ({ route, kind: "wasted" }));
    },
    onReplay(route) {
      const name = route || "direct";
      replays(name, 1, () => ({ route: name }));
    },
  };
}
