/**
 * The canonical error taxonomy. Every failure in Detour — a bad request, an
 * upstream 429, a breaker skip, a dropped stream — becomes a GatewayError with
 * a stable machine reason. The reason table fixes, in one place, its Connect
 * code, its HTTP status and OpenAI error type, and what the attempt loop does
 * by default when a hop fails with it. The two outward mappings live in
 * errors-connect.ts and errors-openai.ts.
 */
import { Code } from "@connectrpc/connect";
import type { Attempt, TargetRef } from "../gen/detour/v1/result_pb.js";

/**
 * What the attempt loop does by default after a hop fails with a reason:
 * retry the same target (while its retries last, then fall back), fall back
 * to the next target at once, or fail the request.
 */
export type Action = "retry" | "fallback" | "fail";

interface ReasonSpec {
  readonly code: Code;
  readonly http: number;
  readonly openaiType: string;
  readonly action: Action;
}

const spec = (code: Code, http: number, openaiType: string, action: Action): ReasonSpec => ({
  code,
  http,
  openaiType,
  action,
});

/** Every reason Detour reports, with its mappings and default action. */
export const REASONS = {
  // The caller's fault: deterministic, never worth another target.
  INVALID_REQUEST: spec(Code.InvalidArgument, 400, "invalid_request_error", "fail"),
  // Over server.max_request_bytes; Connect's own size check answers ResourceExhausted too.
  REQUEST_TOO_LARGE: spec(Code.ResourceExhausted, 413, "invalid_request_error", "fail"),
  UNKNOWN_MODEL: spec(Code.NotFound, 404, "invalid_request_error", "fail"),
  // A path or method the HTTP API does not serve.
  UNKNOWN_PATH: spec(Code.NotFound, 404, "invalid_request_error", "fail"),
  // A target that cannot honour a parameter: another target may.
  CAPABILITY_MISMATCH: spec(Code.FailedPrecondition, 400, "invalid_request_error", "fallback"),
  COST_LIMIT: spec(Code.FailedPrecondition, 400, "invalid_request_error", "fail"),
  CONTEXT_LENGTH_EXCEEDED: spec(Code.InvalidArgument, 400, "invalid_request_error", "fallback"),
  CONTENT_FILTERED: spec(Code.InvalidArgument, 400, "invalid_request_error", "fail"),
  // A POST body not declared as JSON: what a browser sends cross-site without asking first.
  UNSUPPORTED_MEDIA_TYPE: spec(Code.InvalidArgument, 415, "invalid_request_error", "fail"),
  // A browser page of another origin, not in server.cors.allowed_origins.
  ORIGIN_NOT_ALLOWED: spec(Code.PermissionDenied, 403, "permission_error", "fail"),
  // An open gateway asked under a name that is not its own (DNS rebinding).
  MISDIRECTED_REQUEST: spec(Code.PermissionDenied, 421, "permission_error", "fail"),
  UNAUTHENTICATED: spec(Code.Unauthenticated, 401, "authentication_error", "fail"),
  PERMISSION_DENIED: spec(Code.PermissionDenied, 403, "permission_error", "fail"),
  IDEMPOTENCY_MISMATCH: spec(Code.InvalidArgument, 422, "invalid_request_error", "fail"),
  BUDGET_EXCEEDED: spec(Code.ResourceExhausted, 429, "rate_limit_error", "fail"),
  // Upstream trouble that may pass: retried on the same target while its
  // retries and the retry budget last, then the next target.
  RATE_LIMITED: spec(Code.ResourceExhausted, 429, "rate_limit_error", "retry"),
  UPSTREAM_OVERLOADED: spec(Code.Unavailable, 503, "server_error", "retry"),
  UPSTREAM_UNAVAILABLE: spec(Code.Unavailable, 503, "server_error", "retry"),
  UPSTREAM_ERROR: spec(Code.Unavailable, 502, "server_error", "retry"),
  UPSTREAM_TIMEOUT: spec(Code.Unavailable, 504, "server_error", "retry"),
  CONNECTION_FAILED: spec(Code.Unavailable, 502, "server_error", "retry"),
  INTER_TOKEN_TIMEOUT: spec(Code.Unavailable, 504, "server_error", "retry"),
  STREAM_DROPPED: spec(Code.Unavailable, 502, "server_error", "retry"),
  MALFORMED_RESPONSE: spec(Code.Unavailable, 502, "server_error", "retry"),
  // Trouble that will not pass on this target: straight to the next one.
  // A provider's billing or quota is exhausted.
  QUOTA_EXHAUSTED: spec(Code.ResourceExhausted, 429, "rate_limit_error", "fallback"),
  // Too slow to start: a retry would be as slow.
  TTFT_TIMEOUT: spec(Code.Unavailable, 504, "server_error", "fallback"),
  BREAKER_OPEN: spec(Code.Unavailable, 503, "server_error", "fallback"),
  // The gateway's configuration for one provider is wrong: another may work.
  UPSTREAM_AUTH: spec(Code.Internal, 502, "server_error", "fallback"),
  MODEL_NOT_FOUND: spec(Code.NotFound, 502, "server_error", "fallback"),
  UPSTREAM_BAD_REQUEST: spec(Code.InvalidArgument, 400, "invalid_request_error", "fail"),
  // A hedged attempt that lost the race to the first token (trail only).
  HEDGE_LOST: spec(Code.Canceled, 499, "request_cancelled", "fallback"),
  // The call itself.
  DEADLINE_EXCEEDED: spec(Code.DeadlineExceeded, 504, "timeout_error", "fail"),
  CANCELLED: spec(Code.Canceled, 499, "request_cancelled", "fail"),
  SHUTTING_DOWN: spec(Code.Unavailable, 503, "server_error", "fail"),
  // The gateway's own shared store (Redis) is unreachable: worth a retry shortly.
  STORE_UNAVAILABLE: spec(Code.Unavailable, 503, "server_error", "fail"),
  INTERNAL: spec(Code.Internal, 500, "server_error", "fail"),
} as const satisfies Record<string, ReasonSpec>;

/** A stable machine reason, as in google.rpc.ErrorInfo.reason. */
export type Reason = keyof typeof REASONS;

/** The domain of every ErrorInfo Detour sends. */
export const ERROR_DOMAIN = "detour.dev";

/** Options of a GatewayError beyond its reason and message. */
export interface GatewayErrorInit {
  /** The hop the error came from, when it came from one. */
  hop?: TargetRef;
  /** The upstream HTTP status, when there was one. */
  upstreamStatus?: number;
  /** How long the upstream asked us to wait, in milliseconds. */
  retryAfterMs?: number;
  /** The attempts trail up to the error. */
  attempts?: Attempt[];
  /** The request field at fault, for invalid requests. */
  field?: string;
  /** For a stream that failed after output: what was delivered. */
  delivered?: { chars: number; toolCalls: number };
  /** The gateway's ID of the completion. */
  id?: string;
  /** The underlying error, for logs only; never sent to a caller. */
  cause?: unknown;
}

/**
 * The one error type of Detour. Messages are safe to show to callers.
 *
 * Only an INTERNAL error carries a stack trace. The others are outcomes,
 * not bugs — an upstream's 503, a bad request, an open breaker — made on
 * every failed hop; capturing the stack (async frames included) was the
 * largest single cost of Detour's own code on a failover.
 */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  readonly reason: Reason;
  readonly hop: TargetRef | undefined;
  readonly upstreamStatus: number;
  readonly retryAfterMs: number | undefined;
  readonly field: string | undefined;
  readonly delivered: { chars: number; toolCalls: number } | undefined;
  attempts: Attempt[];
  id: string;

  constructor(reason: Reason, message: string, init: GatewayErrorInit = {}) {
    const limit = Error.stackTraceLimit;
    if (reason !== "INTERNAL") Error.stackTraceLimit = 0;
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    Error.stackTraceLimit = limit;
    this.reason = reason;
    this.hop = init.hop;
    this.upstreamStatus = init.upstreamStatus ?? 0;
    this.retryAfterMs = init.retryAfterMs;
    this.field = init.field;
    this.delivered = init.delivered;
    this.attempts = init.attempts ?? [];
    this.id = init.id ?? "";
  }

  /** The Connect code callers see. */
  get code(): Code {
    return REASONS[this.reason].code;
  }

  /** The HTTP status of the OpenAI-compatible API. */
  get httpStatus(): number {
    return REASONS[this.reason].http;
  }

  /** What the attempt loop does by default after a hop fails like this. */
  get action(): Action {
    return REASONS[this.reason].action;
  }
}

/** True for a GatewayError. */
export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

/**
 * Turns anything thrown into a GatewayError. Unknown errors become INTERNAL
 * with a generic message: their text may carry upstream bodies or secrets.
 */
export function toGatewayError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  if (e instanceof Error && e.name === "AbortError") {
    return new GatewayError("CANCELLED", "the call was cancelled", { cause: e });
  }
  return new GatewayError("INTERNAL", "internal error", { cause: e });
}

/** Builds an INVALID_REQUEST error naming the field and the fix. */
export function invalidRequest(field: string, problem: string): GatewayError {
  return new GatewayError("INVALID_REQUEST", `${field}: ${problem}`, { field });
}

/** What a failed request cost: the US dollars of its wasted hops. */
export function wastedUsd(e: unknown): number {
  return e instanceof GatewayError ? e.attempts.reduce((n, a) => n + a.costUsd, 0) : 0;
}

/** A short description of a bad value for an error message: never the whole value, however large. */
export function shown(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object" && v !== null) return "an object";
  if (typeof v === "string") return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}…` : JSON.stringify(v);
  return String(v);
}
