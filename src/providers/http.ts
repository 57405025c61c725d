/**
 * Upstream HTTP: one undici Agent per provider (keep-alive pools per origin,
 * bounded connections, connect/header/body timeouts), each call dispatched
 * with its own handler (dispatched.ts), aborted by the attempt's signal, and
 * network failures classified into the taxonomy.
 */
import { Agent, errors as undiciErrors } from "undici";
import type { UpstreamConfig } from "../../gen/detour/v1/config_pb.js";
import { durationOr } from "../config/duration.ts";
import { GatewayError } from "../errors.ts";
import { DispatchedCall, type DispatchedResponse } from "./dispatched.ts";

/** An upstream response whose body has not been read yet. */
export type UpstreamResponse = DispatchedResponse;

/** A provider's HTTP client. */
export interface UpstreamHttp {
  post(url: string, headers: Record<string, string>, body: unknown, signal: AbortSignal): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** Creates the pooled client for one provider. */
export function createUpstreamHttp(config: UpstreamConfig | undefined): UpstreamHttp {
  const agent = new Agent({
    connections: config?.maxConnections || 128,
    connectTimeout: durationOr(config?.connectTimeout ?? "", 5_000),
    keepAliveTimeout: durationOr(config?.keepAliveTimeout ?? "", 30_000),
    // The attempt loop owns the real deadlines (TTFT, total, inter-token);
    // these only stop a socket that went silent for far longer than any of them.
    headersTimeout: 300_000,
    bodyTimeout: 300_000,
  });
  const targets = new Map<string, { origin: string; path: string }>();
  /** A URL's origin and path, parsed once (a provider calls a handful of URLs). */
  const targetOf = (url: string) => {
    let t = targets.get(url);
    if (!t) {
      const u = new URL(url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new GatewayError("CONNECTION_FAILED", `the upstream URL ${u.origin} is not http or https`);
      t = { origin: u.origin, path: `${u.pathname}${u.search}` };
      if (targets.size >= 1024) targets.clear();
      targets.set(url, t);
    }
    return t;
  };
  return {
    async post(url, headers, body, signal) {
      // As undici.request does: an aborted call opens no connection.
      if (signal.aborted) throw signal.reason;
      const call = new DispatchedCall(signal);
      try {
        const { origin, path } = targetOf(url);
        agent.dispatch(
          {
            origin,
            path,
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
            body: JSON.stringify(body),
          },
          call,
        );
        return await call.head;
      } catch (e) {
        call.onResponseError(null, e as Error);
        throw networkError(e, signal);
      }
    },
    close: () => agent.close(),
  };
}

/**
 * Classifies a failure of the connection or of reading the body. An abort
 * is passed through unchanged: the attempt knows why it aborted.
 */
export function networkError(e: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return e;
  if (e instanceof GatewayError) return e;
  // undici refused the request itself (a header value it cannot send):
  // nothing reached the upstream, so it is the request's fault, never a
  // connection failure that would count against every tenant's breaker.
  if (e instanceof undiciErrors.InvalidArgumentError) {
    return new GatewayError("INVALID_REQUEST", "request: could not be sent upstream as it is (a value is not valid in an HTTP request)", { cause: e });
  }
  if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError) {
    return new GatewayError("UPSTREAM_TIMEOUT", "the upstream went silent", { cause: e });
  }
  if (e instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError("CONNECTION_FAILED", "could not connect to the upstream in time", { cause: e });
  }
  const code = (e as { code?: unknown }).code;
  if (e instanceof undiciErrors.SocketError || code === "ECONNRESET" || code === "EPIPE") {
    return new GatewayError("STREAM_DROPPED", "the upstream closed the connection", { cause: e });
  }
  if (typeof code === "string" && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(code)) {
    return new GatewayError("CONNECTION_FAILED", `could not connect to the upstream (${code})`, { cause: e });
  }
  return new GatewayError("CONNECTION_FAILED", "the upstream call failed", { cause: e });
}
