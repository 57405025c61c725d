/**
 * Upstream HTTP errors → the canonical taxonomy. Adapters parse their
 * vendor's error JSON into a VendorError; this file decides the reason, the
 * retry hint and a message that is safe to show (never the raw body, never
 * anything shaped like a key).
 */
import { GatewayError, type Reason } from "../errors.ts";
import type { TargetRef } from "../../gen/detour/v1/result_pb.js";
import { quoteUpstream, REDACTED, upstreamToken, type Scrub } from "../upstream-text.ts";

/** What an adapter extracted from an error response. */
export interface VendorError {
  readonly status: number;
  /** The vendor's machine code or type, e.g. "context_length_exceeded". */
  readonly code?: string | undefined;
  /** The vendor's human message (sanitised before use). */
  readonly message?: string | undefined;
  /** A retry delay found in the body (Gemini's RetryInfo). */
  readonly retryAfterMs?: number | undefined;
  /** Set by the adapter when the vendor says the prompt is too long. */
  readonly contextLength?: boolean;
  /** Set by the adapter when the vendor's safety filter refused. */
  readonly contentFiltered?: boolean;
  /** Set by the adapter for a billing or quota failure (not transient). */
  readonly quota?: boolean;
  /**
   * Set by the adapter when the vendor refused the gateway's credentials or
   * permissions, whatever the status: Gemini answers a bad key with a 400.
   */
  readonly auth?: boolean;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The wait an upstream asked for, in milliseconds: retry-after-ms, then
 * retry-after (seconds or an HTTP date). Only these say when to try again.
 * The rate-limit reset headers (x-ratelimit-reset-*, anthropic-ratelimit-*-reset)
 * say when a bucket refills — on a 500 or a 529 they are a minute away while
 * the retry may succeed at once — so they are no wait hint.
 */
export function retryAfterFromHeaders(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(header(headers, "retry-after-ms"));
  if (header(headers, "retry-after-ms") !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = header(headers, "retry-after");
  if (ra !== undefined) {
    const secs = Number(ra);
    if (ra.trim() !== "" && Number.isFinite(secs) && secs >= 0) return secs * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return undefined;
}

/** Parses OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s". */
export function parseResetDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let end = 0;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (unit[m[2] as string] ?? 0);
    end = re.lastIndex;
  }
  return end > 0 && end === text.length ? total : undefined;
}

/** Parses a protobuf JSON duration such as "30s" or "1.5s". */
export function parseProtoDuration(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(text);
  return m ? Number(m[1]) * 1000 : undefined;
}

// Key shapes the gateway was not configured with (another tenant's key, a
// partial key the vendor echoes): sk-…, sk-ant-…, AIza…, bearer tokens, JWTs,
// "api_key=…" pairs and any long opaque token. The configured
// secrets themselves are removed by exact match first (upstream-text.ts).
const KEYISH = new RegExp(
  [
    /\b(?:sk|pk|rk)-[A-Za-z0-9_.*-]{3,}/.source,
    /\bAIza[0-9A-Za-z_.-]{6,}/.source,
    /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+/.source,
    /(?<=\bbearer\s+)[^\s"',;]+/.source,
    /(?<=\b(?:api[-_ ]?key|x-api-key|x-goog-api-key|token|secret|password|authorization)["']?\s*[:=]\s*["']?)[^\s"',;]{4,}/.source,
    /\b[A-Za-z0-9_-]{32,}/.source,
  ].join("|"),
  "gi",
);

/**
 * A vendor message fit for callers: scrubbed of the configured secrets, one
 * line, key-like tokens removed, bounded. Scrubbing comes before the bound,
 * so a cut never leaves half a key behind.
 */
export function safeMessage(text: string | undefined, scrub: Scrub): string {
  if (!text) return "";
  const line = scrub(text).replace(/\s+/g, " ").trim().replace(KEYISH, REDACTED);
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/**
 * A VendorError with its text made safe: the message scrubbed, the code
 * scrubbed and held to a short identifier (or dropped). The flags an adapter
 * read from the raw body stay.
 */
export function cleanVendorError(e: VendorError, scrub: Scrub): VendorError {
  return { ...e, code: upstreamToken(e.code, scrub), message: safeMessage(e.message, scrub) };
}

function reasonFor(e: VendorError): Reason {
  const s = e.status;
  if (e.contextLength) return "CONTEXT_LENGTH_EXCEEDED";
  if (e.contentFiltered) return "CONTENT_FILTERED";
  if (e.quota) return "QUOTA_EXHAUSTED";
  if (e.auth || s === 401 || s === 403) return "UPSTREAM_AUTH";
  if (s === 404) return "MODEL_NOT_FOUND";
  if (s === 408) return "UPSTREAM_TIMEOUT";
  if (s === 429) return "RATE_LIMITED";
  if (s === 503) return "UPSTREAM_UNAVAILABLE";
  if (s === 529) return "UPSTREAM_OVERLOADED";
  if (s === 504) return "UPSTREAM_TIMEOUT";
  if (s >= 500 || s === 409) return "UPSTREAM_ERROR";
  return "UPSTREAM_BAD_REQUEST";
}

/**
 * Builds the GatewayError for an upstream error response. The vendor's
 * prose is quoted (quoteUpstream) so telemetry can withhold it.
 */
export function upstreamError(provider: string, hop: TargetRef, raw: VendorError, headers: Headers, scrub: Scrub): GatewayError {
  const e = cleanVendorError(raw, scrub);
  const reason = reasonFor(e);
  const code = e.code ? ` (${e.code})` : "";
  const message =
    reason === "UPSTREAM_AUTH"
      ? `${provider} refused the gateway's credentials (HTTP ${e.status}): check the provider's API key`
      : `${provider} answered HTTP ${e.status}${code}${e.message ? `: ${quoteUpstream(e.message)}` : ""}`;
  const retryAfterMs = e.retryAfterMs ?? retryAfterFromHeaders(headers);
  return new GatewayError(reason, message, {
    hop,
    upstreamStatus: e.status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/**
 * An error event inside a stream that began with HTTP 200, with the meaning
 * its own status carries: a 429 or a 503 mid-stream is retried and falls
 * back as it would before the first byte, a bad key still names the
 * credentials. The vendor's prose is left out, as it may quote the prompt.
 */
export function midStreamError(provider: string, hop: TargetRef, raw: VendorError, scrub: Scrub): GatewayError {
  const e = cleanVendorError(raw, scrub);
  return new GatewayError(reasonFor(e), `${provider} reported an error mid-stream${e.code ? ` (${e.code})` : ""}`, {
    hop,
    upstreamStatus: 200,
    ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
  });
}
