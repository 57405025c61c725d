/**
 * One structured log line per request, with its hops and its trace and span
 * IDs, so a log line leads to the trace. Prompt and answer only with
 * telemetry.include_content.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Decision } from "../../gen/detour/v1/result_pb.js";
import type { GatewayObserver } from "../gateway/observer.ts";
import type { Logger } from "./log.ts";

const DECISIONS: Record<number, string> = { [Decision.RETURN]: "return", [Decision.RETRY]: "retry", [Decision.FALLBACK]: "fallback", [Decision.FAIL]: "fail" };

/** An observer that logs each request. */
export function requestLogObserver(logger: Logger): GatewayObserver {
  return {
    onRequest(r) {
      // Skip building the line when its level is off (log_level: warn and a success).
      if (r.outcome === "ok" ? !logger.isLevelEnabled("info") : !logger.isLevelEnabled("warn")) return;
      const line = {
        id: r.id,
        route: r.route,
        model: r.model,
        streaming: r.streaming,
        outcome: r.outcome,
        served_by: r.servedBy ? `${r.servedBy.provider}/${r.servedBy.model}` : null,
        latency_ms: Math.round(r.latencyMs),
        cost_usd: r.answerUsd,
        wasted_usd: r.wastedUsd,
        hops: r.attempts.map((a) => ({
          target: `${a.target?.provider}/${a.target?.model}`,
          reason: a.reason || undefined,
          decision: DECISIONS[a.decision],
          latency_ms: a.latency ? Math.round(durationMs(a.latency)) : undefined,
        })),
        // All zeros when tracing is off: leave them out rather than mislead.
        trace_id: /^0+$/.test(r.traceId) ? undefined : r.traceId,
        span_id: /^0+$/.test(r.spanId) ? undefined : r.spanId,
        ...(r.content ? { input_messages: r.content.input, output_messages: r.content.output } : {}),
      };
      if (r.outcome === "ok") logger.info(line, "request");
      else logger.warn({ ...line, error: r.message }, "request failed");
    },
  };
}
