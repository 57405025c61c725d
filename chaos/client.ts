/**
 * One chaos request over the OpenAI-compatible API, and how it ended: a
 * success, a typed error (OpenAI's error JSON with one of Detour's reasons
 * and its HTTP status, or an SSE `event: error` after a stream started), or a
 * failure the suite counts against the gateway — an untyped error, a stream
 * cut without [DONE] or an error event, a dropped connection, or a hang (no
 * end before the client's own timeout, set well above the gateway's
 * deadline).
 */
import { request, type Dispatcher } from "undici";
import { REASONS, type Reason } from "../src/errors.ts";

/** How a request ended ("cancelled": the client itself went away, by design). */
export type OutcomeKind = "success" | "typed_error" | "untyped_error" | "cut" | "connection_error" | "hang" | "cancelled";

/** One finished request. */
export interface Outcome {
  /** The Idempotency-Key sent, "" for none. */
  readonly key: string;
  readonly model: string;
  readonly stream: boolean;
  /** Epoch ms when it was sent, and when it ended. */
  readonly sentAt: number;
  readonly endedAt: number;
  readonly latencyMs: number;
  readonly kind: OutcomeKind;
  /** For a typed error its reason; otherwise what went wrong, or "". */
  readonly reason: string;
  readonly status: number;
  /** The gateway's completion ID (one per execution), "" when none came back. */
  readonly executionId: string;
  /** The gateway said it replayed a stored or running execution. */
  readonly replayed: boolean;
  /** A success's attempts trail, "model reason > model reason > model", for reports. */
  readonly trail: string;
}

/** What to send. */
export interface ChaosCall {
  readonly url: string;
  readonly model: string;
  readonly stream: boolean;
  readonly key: string;
  readonly timeoutMs: number;
  readonly dispatcher: Dispatcher;
  /** Go away after the first bytes of the answer, as a caller that gave up. */
  readonly cancelEarly?: boolean;
}

type Json = Record<string, unknown>;

function parse(text: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** The reason of an OpenAI error body Detour sent, if it is one of its typed reasons. */
function typedReason(body: Json | undefined): Reason | undefined {
  const error = body?.["error"] as Json | undefined;
  const code = typeof error?.["code"] === "string" ? error["code"].toUpperCase() : "";
  // INTERNAL is the taxonomy's "we do not know": a bug, not a typed answer.
  return code in REASONS && code !== "INTERNAL" ? (code as Reason) : undefined;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string {
  const v = headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

/** The attempts trail of a success, from its `detour` extension (unary or Done). */
function trailOf(detour: unknown): string {
  const attempts = ((detour as Json | undefined)?.["attempts"] as Json[] | undefined) ?? [];
  return attempts
    .map((a) => {
      const t = a["target"];
      const target = typeof t === "string" ? t : `${(t as Json | undefined)?.["provider"]}/${(t as Json | undefined)?.["model"]}`;
      return `${target}${a["reason"] ? ` ${a["reason"]}` : ""}`;
    })
    .join(" > ");
}

/** Reads an SSE body: success through [DONE], or the error event, or a cut. */
function readStream(text: string): Pick<Outcome, "kind" | "reason" | "executionId" | "trail"> {
  let content = "";
  let trail = "";
  for (const frame of text.split("\n\n")) {
    const lines = frame.split("\n");
    const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    if (lines.includes("event: error")) {
      const body = parse(data);
      const reason = typedReason(body);
      const id = ((body?.["detour"] as Json | undefined)?.["id"] as string | undefined) ?? "";
      return reason ? { kind: "typed_error", reason, executionId: id, trail } : { kind: "untyped_error", reason: `error event ${data.slice(0, 120)}`, executionId: id, trail };
    }
    if (data === "[DONE]") {
      return content ? { kind: "success", reason: "", executionId: "", trail } : { kind: "untyped_error", reason: "a stream without content", executionId: "", trail };
    }
    const chunk = parse(data);
    if (chunk?.["detour"]) trail = trailOf(chunk["detour"]);
    const delta = ((chunk?.["choices"] as Json[] | undefined)?.[0]?.["delta"] as Json | undefined)?.["content"];
    if (typeof delta === "string") content += delta;
  }
  return { kind: "cut", reason: "the stream ended without [DONE] or an error event", executionId: "", trail };
}

/** Sends one chat completion and classifies how it ended; never throws. */
export async function chaosCall(call: ChaosCall): Promise<Outcome> {
  const sentAt = Date.now();
  const started = performance.now();
  const stop = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, call.timeoutMs);
  const base = { key: call.key, model: call.model, stream: call.stream, sentAt };
  const end = (o: Pick<Outcome, "kind" | "reason" | "status" | "executionId" | "replayed"> & { trail?: string }): Outcome => ({ trail: "", ...base, ...o, endedAt: Date.now(), latencyMs: performance.now() - started });
  const body = JSON.stringify({
    model: call.model,
    stream: call.stream,
    ...(call.stream ? { stream_options: { include_usage: true } } : {}),
    max_tokens: 64,
    messages: [{ role: "user", content: `chaos ${call.key || "anonymous"}` }],
  });
  try {
    const res = await request(`${call.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(call.key ? { "idempotency-key": call.key } : {}) },
      body,
      signal: stop.signal,
      dispatcher: call.dispatcher,
    });
    if (call.cancelEarly) {
      await res.body[Symbol.asyncIterator]().next();
      stop.abort();
      return end({ kind: "cancelled", reason: "", status: res.statusCode, executionId: "", replayed: false });
    }
    const text = await res.body.text();
    const id = header(res.headers, "x-request-id");
    const replayed = header(res.headers, "x-detour-replayed") === "true";
    const status = res.statusCode;
    if (status !== 200) {
      const reason = typedReason(parse(text));
      const matches = reason !== undefined && REASONS[reason].http === status;
      return end({ kind: matches ? "typed_error" : "untyped_error", reason: matches ? reason : `HTTP ${status} ${text.slice(0, 120)}`, status, executionId: id, replayed });
    }
    if (call.stream) {
      const s = readStream(text);
      return end({ ...s, status, executionId: s.executionId || id, replayed });
    }
    const json = parse(text);
    const message = (json?.["choices"] as Json[] | undefined)?.[0]?.["message"] as Json | undefined;
    if (typeof message?.["content"] !== "string" || message["content"] === "") {
      return end({ kind: "untyped_error", reason: `HTTP 200 without an answer ${text.slice(0, 120)}`, status, executionId: id, replayed });
    }
    return end({ kind: "success", reason: "", status, executionId: String(json?.["id"] ?? id), replayed, trail: trailOf(json?.["detour"]) });
  } catch (e) {
    if (timedOut) return end({ kind: "hang", reason: `no end within ${call.timeoutMs}ms`, status: 0, executionId: "", replayed: false });
    const code = (e as { code?: unknown }).code;
    return end({ kind: "connection_error", reason: String(code ?? (e as Error).message), status: 0, executionId: "", replayed: false });
  } finally {
    clearTimeout(timer);
  }
}
