/**
 * Gemini responses → internal events. Each SSE event (and a unary body) is a
 * GenerateContentResponse: candidate parts (text, functionCall; thoughts are
 * skipped), a finishReason, usageMetadata whose totals are cumulative, and
 * promptFeedback.blockReason for a blocked prompt. Errors are
 * `{"error": {code, message, status, details}}`.
 */
import { randomBytes } from "node:crypto";
import { FinishReason, type TargetRef, type Usage } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import { arr, num, obj, str, type Obj } from "./json.ts";
import type { SseEvent } from "./sse.ts";
import type { ProviderEvent } from "./types.ts";
import { midStreamError, parseProtoDuration, type VendorError } from "./upstream-errors.ts";
import { upstreamToken, type Scrub } from "../upstream-text.ts";
import { newUsage } from "../literals.ts";

const FILTERED = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"]);

/**
 * google.rpc.ErrorInfo reasons that mean the gateway's key or project is
 * refused (cloud.google.com/apis/design/errors, "Error info"): a bad key is a
 * 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not a 401.
 */
const AUTH_REASONS = new Set(["SERVICE_DISABLED", "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "ACCESS_TOKEN_TYPE_UNSUPPORTED", "CONSUMER_INVALID", "CONSUMER_SUSPENDED", "USER_PROJECT_DENIED"]);

/**
 * A call ID for a functionCall that carries none. Gemini answers calls by
 * name, but callers (and the next target after a fallback) match results to
 * calls by ID, so the ID must be unique within the conversation: a counter
 * would give every turn's first call the same one.
 */
function newCallId(): string {
  return `call_${randomBytes(12).toString("base64url")}`;
}

/** Reads Gemini's error JSON, including RetryInfo and ErrorInfo details. */
export function geminiVendorError(status: number, body: Obj): VendorError {
  const e = obj(body["error"]) ?? body;
  const message = str(e, "message") ?? "";
  let retryAfterMs: number | undefined;
  let auth = false;
  let quota = false;
  for (const d of arr(e["details"])) {
    const type = str(d, "@type") ?? "";
    if (type.endsWith("google.rpc.RetryInfo")) retryAfterMs = parseProtoDuration(obj(d)?.["retryDelay"]);
    if (type.endsWith("google.rpc.ErrorInfo")) {
      const reason = str(d, "reason") ?? "";
      if (reason.startsWith("API_KEY_") || AUTH_REASONS.has(reason)) auth = true;
      if (reason === "BILLING_DISABLED") quota = true;
    }
  }
  const rpcStatus = str(e, "status");
  return {
    status,
    code: rpcStatus,
    message,
    retryAfterMs,
    auth: auth || rpcStatus === "UNAUTHENTICATED" || rpcStatus === "PERMISSION_DENIED",
    quota,
    contextLength: status === 400 && /exceeds the maximum number of tokens|input token count/i.test(message),
  };
}

function usageOf(u: Obj): Usage {
  const input = num(u["promptTokenCount"]);
  const thoughts = num(u["thoughtsTokenCount"]);
  const output = num(u["candidatesTokenCount"]) + thoughts;
  return newUsage({
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: num(u["cachedContentTokenCount"]),
    reasoningTokens: thoughts,
    totalTokens: num(u["totalTokenCount"]) || input + output,
  });
}

/** Reads responses one by one, keeping state across stream chunks. */
function createReader(hop: TargetRef) {
  let calls = 0;
  let finish: FinishReason | undefined;
  let usage: Usage | undefined;
  return {
    *read(body: Obj): Generator<ProviderEvent> {
      const block = str(obj(body["promptFeedback"]), "blockReason");
      if (block) {
        throw new GatewayError("CONTENT_FILTERED", `the prompt was blocked by Gemini's safety filter (${upstreamToken(block, (t) => t) ?? "unknown"})`, { hop, upstreamStatus: 200 });
      }
      const cand = obj(arr(body["candidates"])[0]);
      for (const p of arr(obj(cand?.["content"])?.["parts"])) {
        const part = obj(p);
        if (!part || part["thought"] === true) continue;
        const t = str(part, "text");
        if (t) yield { type: "text", text: t };
        const fc = obj(part["functionCall"]);
        if (fc) {
          const index = calls++;
          yield { type: "tool_call", index, id: str(fc, "id") || newCallId(), name: str(fc, "name") ?? "", arguments: JSON.stringify(fc["args"] ?? {}) };
        }
      }
      const reason = str(cand, "finishReason");
      if (reason) {
        if (reason === "MAX_TOKENS") finish = FinishReason.LENGTH;
        else if (FILTERED.has(reason)) finish = FinishReason.CONTENT_FILTER;
        else if (reason === "STOP") finish = FinishReason.STOP;
        else if (reason === "MALFORMED_FUNCTION_CALL") {
          throw new GatewayError("MALFORMED_RESPONSE", "Gemini produced a malformed function call", { hop, upstreamStatus: 200 });
        } else finish = FinishReason.STOP;
      }
      const u = obj(body["usageMetadata"]);
      if (u) usage = usageOf(u);
    },
    *end(): Generator<ProviderEvent> {
      if (finish === undefined) {
        throw new GatewayError("STREAM_DROPPED", "the upstream stream ended before a finish reason", { hop, upstreamStatus: 200 });
      }
      if (usage) yield { type: "usage", usage };
      // Gemini says STOP after function calls; callers expect tool_calls.
      yield { type: "finish", reason: finish === FinishReason.STOP && calls > 0 ? FinishReason.TOOL_CALLS : finish };
    },
  };
}

/** Turns the alt=sse stream into events, a batch per batch of SSE events (those decoded before a failure, before it). */
export async function* streamEvents(events: AsyncIterable<readonly SseEvent[]>, hop: TargetRef, scrub: Scrub): AsyncGenerator<ProviderEvent[]> {
  const reader = createReader(hop);
  let out: ProviderEvent[] = [];
  try {
    for await (const batch of events) {
      for (const ev of batch) {
        let body: Obj | undefined;
        try {
          body = obj(JSON.parse(ev.data));
        } catch {
          throw new GatewayError("MALFORMED_RESPONSE", "the upstream sent an event that is not JSON", { hop, upstreamStatus: 200 });
        }
        if (!body) continue;
        if (body["error"] !== undefined) {
          throw midStreamError("Gemini", hop, geminiVendorError(num(obj(body["error"])?.["code"]) || 500, body), scrub);
        }
        for (const e of reader.read(body)) out.push(e);
      }
      if (out.length > 0) {
        yield out;
        out = [];
      }
    }
    for (const e of reader.end()) out.push(e);
  } catch (e) {
    if (out.length > 0) yield out;
    throw e;
  }
  if (out.length > 0) yield out;
}

/** Turns a whole GenerateContentResponse into events. */
export function* wholeResponseEvents(body: Obj, hop: TargetRef): Generator<ProviderEvent> {
  const reader = createReader(hop);
  yield* reader.read(body);
  yield* reader.end();
}
