/**
 * Idempotency: one request ID, one generation. A store hands the first
 * caller of an ID the right to execute (a lease), records the events it
 * produces, and lets every later caller with the same ID join: replay what
 * was produced, then follow the live tail, or read the stored result. The
 * same ID with a different request is refused.
 */
import { createHash } from "node:crypto";
import { fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { CompleteRequestSchema, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { StreamCompleteResponseSchema, type StreamCompleteResponse } from "../../gen/detour/v1/gateway_pb.js";
import { AttemptSchema } from "../../gen/detour/v1/result_pb.js";
import { GatewayError, REASONS, type Reason } from "../errors.ts";

/** What a joiner reads: an event, or the end of the execution. */
export type Entry =
  | { readonly kind: "event"; readonly event: StreamCompleteResponse }
  | { readonly kind: "done" }
  | { readonly kind: "failed"; readonly error: GatewayError }
  /** The owner failed transiently and let the ID go; a retry may execute. */
  | { readonly kind: "released"; readonly error: GatewayError }
  /** The owner vanished (its lease expired): claim the ID again. */
  | { readonly kind: "orphaned" };

/** The right to execute a request ID. */
export interface Lease {
  append(event: StreamCompleteResponse): Promise<void>;
  /** The execution finished with a Done event. */
  complete(): Promise<void>;
  /** A deterministic failure: stored, and returned to every repeat. */
  fail(error: GatewayError): Promise<void>;
  /** A transient failure: joiners get it, and the ID is free again. */
  release(error: GatewayError): Promise<void>;
}

/** The outcome of claiming an ID. */
export type Claim =
  | { readonly kind: "owner"; readonly lease: Lease }
  | { readonly kind: "join"; readonly entries: AsyncIterable<Entry> }
  | { readonly kind: "mismatch" };

/** Where idempotency records live. */
export interface IdempotencyStore {
  /** Claims `key` for a request with `fingerprint`. */
  claim(key: string, fingerprint: string, signal: AbortSignal): Promise<Claim>;
  close(): Promise<void>;
}

/**
 * The record key of a request ID within a caller's scope (the key's name).
 * Length-prefixed, so no scope and ID can spell another pair's key.
 */
export function scopedKey(scope: string, requestId: string): string {
  return `${scope.length}:${scope}:${requestId}`;
}

/** The caller's request ID in a record key, for messages: never another scope's name. */
export function requestIdOf(key: string): string {
  const m = /^(\d+):/.exec(key);
  return m ? key.slice(m[0].length + Number(m[1]) + 1) : key;
}

/** A hash of the canonical request, without its ID: same request, same hash. */
export function fingerprint(req: CompleteRequest): string {
  const json = toJson(CompleteRequestSchema, { ...req, requestId: "" }) as JsonValue;
  return createHash("sha256").update(canonical(json)).digest("hex");
}

function canonical(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k] as JsonValue)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Failures worth storing: the same request would fail the same way again. */
export function deterministic(e: GatewayError): boolean {
  return ["INVALID_REQUEST", "UNKNOWN_MODEL", "CAPABILITY_MISMATCH", "COST_LIMIT", "UPSTREAM_BAD_REQUEST", "CONTENT_FILTERED", "CONTEXT_LENGTH_EXCEEDED"].includes(e.reason);
}

/** Serialises an event for storage. */
export function encodeEvent(e: StreamCompleteResponse): string {
  return Buffer.from(toBinary(StreamCompleteResponseSchema, e)).toString("base64");
}

/** Reads a stored event. */
export function decodeEvent(s: string): StreamCompleteResponse {
  return fromBinary(StreamCompleteResponseSchema, Buffer.from(s, "base64"));
}

/** Serialises an error for storage. */
export function encodeError(e: GatewayError): string {
  return JSON.stringify({
    reason: e.reason,
    message: e.message,
    upstreamStatus: e.upstreamStatus,
    retryAfterMs: e.retryAfterMs,
    field: e.field,
    delivered: e.delivered,
    id: e.id,
    attempts: e.attempts.map((a) => toJson(AttemptSchema, a)),
  });
}

/** Reads a stored error. */
export function decodeError(s: string): GatewayError {
  const o = JSON.parse(s) as {
    reason: string;
    message: string;
    upstreamStatus: number;
    retryAfterMs?: number;
    field?: string;
    delivered?: { chars: number; toolCalls: number };
    id: string;
    attempts: JsonValue[];
  };
  const reason: Reason = o.reason in REASONS ? (o.reason as Reason) : "INTERNAL";
  return new GatewayError(reason, o.message, {
    upstreamStatus: o.upstreamStatus,
    ...(o.retryAfterMs === undefined ? {} : { retryAfterMs: o.retryAfterMs }),
    ...(o.field === undefined ? {} : { field: o.field }),
    ...(o.delivered === undefined ? {} : { delivered: o.delivered }),
    id: o.id,
    attempts: o.attempts.map((a) => fromJson(AttemptSchema, a)),
  });
}
