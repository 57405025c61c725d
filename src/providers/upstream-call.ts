/**
 * The steps every HTTP adapter shares: POST, turn an error status into a
 * GatewayError with the vendor's parser, and read an SSE body with cut
 * streams and socket errors classified. Adapters only translate.
 */
import { isSpanContextValid, propagation, trace, type Context } from "@opentelemetry/api";
import type { TargetRef } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import { networkError, type UpstreamHttp, type UpstreamResponse } from "./http.ts";
import { parseObject, type Obj } from "./json.ts";
import { parseSseBatches, SseTruncatedError, type SseEvent } from "./sse.ts";
import { upstreamError, type VendorError } from "./upstream-errors.ts";
import type { Scrub } from "../upstream-text.ts";

/** One upstream POST as an adapter describes it. */
export interface UpstreamPost {
  readonly http: UpstreamHttp;
  readonly provider: string;
  readonly hop: TargetRef;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly signal: AbortSignal;
  /** Removes the provider's secrets from anything the upstream writes back. */
  readonly scrub: Scrub;
  /** Reads the vendor's error JSON. */
  readonly vendorError: (status: number, body: Obj) => VendorError;
  /** The attempt's trace context, sent on as traceparent/baggage. */
  readonly trace?: Context | undefined;
}

/** POSTs and returns a 2xx response; anything else throws a classified error. */
export async function postOrThrow(p: UpstreamPost): Promise<UpstreamResponse> {
  const headers = p.trace && propagates(p.trace) ? withTraceHeaders(p.headers, p.trace) : p.headers;
  const res = await p.http.post(p.url, headers, p.body, p.signal);
  if (res.status >= 200 && res.status < 300) return res;
  const text = await res.text().catch(() => "");
  throw upstreamError(p.provider, p.hop, p.vendorError(res.status, parseObject(text)), res.headers, p.scrub);
}

/** True when a context has something to send upstream: a valid span context or baggage. */
function propagates(ctx: Context): boolean {
  const sc = trace.getSpanContext(ctx);
  return (sc !== undefined && isSpanContextValid(sc)) || propagation.getBaggage(ctx) !== undefined;
}

function withTraceHeaders(headers: Record<string, string>, ctx: Context): Record<string, string> {
  const out = { ...headers };
  propagation.inject(ctx, out);
  return out;
}

/** True when the response is JSON rather than an event stream. */
export function isJsonResponse(res: UpstreamResponse): boolean {
  const ct = res.headers["content-type"];
  return (Array.isArray(ct) ? ct[0] : ct)?.includes("application/json") ?? false;
}

/** Reads a JSON body, bounded; a broken body is MALFORMED_RESPONSE. */
export async function readJson(res: UpstreamResponse, hop: TargetRef, signal: AbortSignal): Promise<Obj> {
  let text: string;
  try {
    text = await res.text(64 * 1024 * 1024);
  } catch (e) {
    throw networkError(e, signal);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Obj;
  } catch {
    // fall through
  }
  throw new GatewayError("MALFORMED_RESPONSE", "the upstream sent a body that is not a JSON object", { hop, upstreamStatus: res.status });
}

/**
 * The response's SSE events, a batch per read (see parseSseBatches); a cut or
 * reset stream is STREAM_DROPPED. (The mapping rides on the parser's own
 * generator: a wrapping one would cost a layer on every batch.)
 */
export function sseEvents(res: UpstreamResponse, hop: TargetRef, signal: AbortSignal): AsyncGenerator<SseEvent[]> {
  return parseSseBatches(res.body, {}, (e) => {
    if (e instanceof SseTruncatedError) {
      return new GatewayError("STREAM_DROPPED", "the upstream stream was cut mid-event", { hop, upstreamStatus: res.status });
    }
    const mapped = networkError(e, signal);
    if (mapped instanceof GatewayError && !mapped.hop) {
      return new GatewayError(mapped.reason, mapped.message, { hop, upstreamStatus: res.status, cause: e });
    }
    return mapped;
  });
}
