/**
 * Upstream HTTP: one undici Agent per provider (keep-alive pools per origin,
 * bounded connections, connect/header/body timeouts), calls aborted by the
 * attempt's signal, and network failures classified into the taxonomy.
 */
import { Agent, request, errors as undiciErrors } from "undici";
import type { UpstreamConfig } from "../../gen/detour/v1/config_pb.js";
import { durationOr } from "../config/duration.ts";
import { GatewayError } from "../errors.ts";
import { readBody } from "../read-body.ts";

/** An upstream response whose body has not been read yet. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: AsyncIterable<Uint8Array>;
  /** Reads at most `limit` bytes of the body as text and discards the rest. */
  text(limit?: number): Promise<string>;
  /** Discards the body. */
  dump(): Promise<void>;
}

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
  return {
    async post(url, headers, body, signal) {
      try {
        const res = await request(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
          body: JSON.stringify(body),
          signal,
          dispatcher: agent,
        });
        return new UndiciResponse(res);
      } catch (e) {
        throw networkError(e, signal);
      }
    },
    close: () => agent.close(),
  };
}

const utf8 = new TextDecoder();

type Body = Awaited<ReturnType<typeof request>>["body"];

/** An undici response as an UpstreamResponse: one object a call, its methods on the prototype. */
class UndiciResponse implements UpstreamResponse {
  readonly status: number;
  readonly headers: UpstreamResponse["headers"];
  readonly body: AsyncIterable<Uint8Array>;
  readonly #body: Body;

  constructor(res: Awaited<ReturnType<typeof request>>) {
    this.status = res.statusCode;
    this.headers = res.headers;
    this.#body = res.body;
    this.body = new KeepAliveBody(res.body);
  }

  async text(limit = 64 * 1024): Promise<string> {
    return utf8.decode(await readBody(this.#body, limit));
  }

  dump(): Promise<void> {
    return this.#body.dump();
  }
}

/** A body iterated with keepAliveIterator. */
class KeepAliveBody implements AsyncIterable<Uint8Array> {
  readonly #body: Body;
  constructor(body: Body) {
    this.#body = body;
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return keepAliveIterator(this.#body);
  }
}

/**
 * Iterates a body without destroying it when the consumer stops early (an
 * SSE stream read up to "[DONE]" but not to its end, say): destroying it
 * would cost an AbortError with a stack trace and close the pooled
 * connection. The rest is read off in the background instead, a little and
 * briefly, so the connection returns to the pool; more than that and it is
 * closed after all.
 */
async function* keepAliveIterator(body: Body): AsyncGenerator<Uint8Array> {
  let ended = false;
  try {
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>) yield chunk;
    ended = true;
  } finally {
    if (!ended && !body.destroyed) drain(body);
  }
}

/**
 * Reads off the rest of a body so its connection can be reused: at most 64
 * KB for at most a second. The timer is cleared when the body ends (almost
 * always at once: the rest is the end of the chunked body), because an
 * AbortSignal.timeout that fires builds a DOMException with a stack trace.
 */
function drain(body: Body): void {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 1_000);
  timer.unref();
  void body
    .dump({ limit: 64 * 1024, signal: ctl.signal })
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
}

/**
 * Classifies a failure of the connection or of reading the body. An abort
 * is passed through unchanged: the attempt knows why it aborted.
 */
export function networkError(e: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return e;
  if (e instanceof GatewayError) return e;
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
