/**
 * OpenAI Chat Completions responses → internal events: SSE
 * `chat.completion.chunk`s (ending with `data: [DONE]`), a whole
 * `chat.completion`, and the `{"error": …}` body.
 */
import { FinishReason, type TargetRef, type Usage } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import type { SseEvent } from "./sse.ts";
import type { ProviderEvent } from "./types.ts";
import { arr, num, obj, str, type Obj } from "./json.ts";
import { midStreamError, type VendorError } from "./upstream-errors.ts";
import type { Scrub } from "../upstream-text.ts";
import { newUsage } from "../literals.ts";
import { TextSlot } from "./text-slot.ts";

/** Maps OpenAI's finish_reason. */
export function finishReason(v: unknown): FinishReason | undefined {
  switch (v) {
    case "stop":
      return FinishReason.STOP;
    case "length":
      return FinishReason.LENGTH;
    case "tool_calls":
    case "function_call":
      return FinishReason.TOOL_CALLS;
    case "content_filter":
      return FinishReason.CONTENT_FILTER;
    default:
      return undefined;
  }
}

/** Normalises OpenAI usage (cached and reasoning tokens included). */
export function openaiUsage(u: Obj): Usage {
  const input = num(u["prompt_tokens"]);
  const output = num(u["completion_tokens"]);
  return newUsage({
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: num(obj(u["prompt_tokens_details"])?.["cached_tokens"]),
    reasoningTokens: num(obj(u["completion_tokens_details"])?.["reasoning_tokens"]),
    totalTokens: num(u["total_tokens"]) || input + output,
  });
}

/** Reads OpenAI's error JSON (`{"error": {message, type, param, code}}`). */
export function openaiVendorError(status: number, body: Obj): VendorError {
  const e = obj(body["error"]) ?? body;
  const code = str(e, "code") ?? str(e, "type");
  const message = str(e, "message");
  return {
    status,
    code,
    message,
    contextLength: code === "context_length_exceeded" || /maximum context length/i.test(message ?? ""),
    contentFiltered: code === "content_filter" || code === "content_policy_violation",
    quota: code === "insufficient_quota",
  };
}

function malformed(hop: TargetRef, what: string): GatewayError {
  return new GatewayError("MALFORMED_RESPONSE", `the upstream sent ${what}`, { hop, upstreamStatus: 200 });
}

/**
 * An answer with tool calls finishes as TOOL_CALLS on every vendor: OpenAI
 * says "stop" when tool_choice named the function (WIRE-NOTES), while the
 * others say tool_calls / tool_use, and callers loop on TOOL_CALLS.
 */
function settled(finish: FinishReason, calls: boolean): FinishReason {
  return finish === FinishReason.STOP && calls ? FinishReason.TOOL_CALLS : finish;
}

/**
 * Turns the SSE stream of chunks into events, a batch per batch of chunks;
 * throws if it ends before a finish (after the events decoded before it).
 */
export async function* chunkEvents(events: AsyncIterable<readonly SseEvent[]>, hop: TargetRef, provider: string, scrub: Scrub): AsyncGenerator<ProviderEvent[]> {
  let finish: FinishReason | undefined;
  let calls = false;
  let out: ProviderEvent[] = [];
  const slot = new TextSlot(plainText);
  try {
    read: for await (const batch of events) {
      for (const ev of batch) {
        if (ev.data === "[DONE]") break read;
        const text = slot.match(ev.data);
        if (text !== undefined) {
          if (text !== "") out.push({ type: "text", text });
          continue;
        }
        const n = out.length;
        finish = chunkInto(out, ev.data, hop, provider, scrub) ?? finish;
        if (!calls) calls = out.slice(n).some((e) => e.type === "tool_call");
        const only = out.length === n + 1 ? out[n] : undefined;
        if (only?.type === "text") slot.learn(ev.data, only.text);
      }
      if (out.length > 0) {
        yield out;
        out = [];
      }
    }
    if (finish === undefined) {
      throw new GatewayError("STREAM_DROPPED", "the upstream stream ended before a finish reason", { hop, upstreamStatus: 200 });
    }
  } catch (e) {
    if (out.length > 0) yield out;
    throw e;
  }
  out.push({ type: "finish", reason: settled(finish, calls) });
  yield out;
}

/** The text of a chunk that is a text delta and nothing else (one choice, no finish, no usage); undefined otherwise. */
function plainText(data: string): string | undefined {
  let chunk: Obj | undefined;
  try {
    chunk = obj(JSON.parse(data));
  } catch {
    return undefined;
  }
  if (!chunk || chunk["error"] !== undefined || (chunk["usage"] ?? null) !== null) return undefined;
  const choices = chunk["choices"];
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice = obj(choices[0]);
  if (!choice || num(choice["index"]) !== 0 || (choice["finish_reason"] ?? null) !== null) return undefined;
  const delta = obj(choice["delta"]);
  const content = delta?.["content"];
  return delta && typeof content === "string" && Object.keys(delta).length === 1 ? content : undefined;
}

/** Adds the events of one chunk to `out`; returns its finish reason, if it has one. */
function chunkInto(out: ProviderEvent[], data: string, hop: TargetRef, provider: string, scrub: Scrub): FinishReason | undefined {
  let chunk: Obj | undefined;
  try {
    chunk = obj(JSON.parse(data));
  } catch {
    throw malformed(hop, "a chunk that is not JSON");
  }
  if (!chunk) throw malformed(hop, "a chunk that is not a JSON object");
  if (chunk["error"] !== undefined) {
    throw midStreamError(provider, hop, openaiVendorError(num(obj(chunk["error"])?.["status"]) || 500, chunk), scrub);
  }
  let finish: FinishReason | undefined;
  for (const c of arr(chunk["choices"])) {
    const choice = obj(c);
    if (!choice || num(choice["index"]) !== 0) continue;
    const delta = obj(choice["delta"]);
    const content = delta?.["content"];
    if (typeof content === "string" && content !== "") out.push({ type: "text", text: content });
    const refusal = delta?.["refusal"];
    if (typeof refusal === "string" && refusal !== "") out.push({ type: "text", text: refusal });
    for (const t of arr(delta?.["tool_calls"])) {
      const tc = obj(t);
      if (!tc) continue;
      const fn = obj(tc["function"]);
      const id = str(tc, "id");
      const name = str(fn, "name");
      out.push({
        type: "tool_call",
        index: num(tc["index"]),
        ...(id ? { id } : {}),
        ...(name ? { name } : {}),
        arguments: str(fn, "arguments") ?? "",
      });
    }
    finish = finishReason(choice["finish_reason"]) ?? finish;
  }
  const usage = obj(chunk["usage"]);
  if (usage) out.push({ type: "usage", usage: openaiUsage(usage) });
  return finish;
}

/** Turns a whole `chat.completion` into the same events a stream gives. */
export function* completionEvents(body: Obj, hop: TargetRef): Generator<ProviderEvent> {
  const choice = obj(arr(body["choices"])[0]);
  const msg = obj(choice?.["message"]);
  if (!choice || !msg) throw malformed(hop, "a completion without choices");
  const content = msg["content"];
  if (typeof content === "string" && content !== "") yield { type: "text", text: content };
  for (const [index, t] of arr(msg["tool_calls"]).entries()) {
    const tc = obj(t);
    const fn = obj(tc?.["function"]);
    yield { type: "tool_call", index, id: str(tc, "id") ?? `call_${index}`, name: str(fn, "name") ?? "", arguments: str(fn, "arguments") ?? "" };
  }
  const usage = obj(body["usage"]);
  if (usage) yield { type: "usage", usage: openaiUsage(usage) };
  yield { type: "finish", reason: settled(finishReason(choice["finish_reason"]) ?? FinishReason.STOP, arr(msg["tool_calls"]).length > 0) };
}
