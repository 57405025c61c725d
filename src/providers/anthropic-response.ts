/**
 * Anthropic Messages responses → internal events: the stream of
 * message_start, content_block_start/delta/stop (text_delta,
 * input_json_delta), message_delta, message_stop, ping and error events; a
 * whole `message`; and the `{"type":"error","error":{…}}` body.
 */
import { FinishReason, type TargetRef, type Usage } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import { arr, num, obj, str, type Obj } from "./json.ts";
import { TextSlot } from "./text-slot.ts";
import type { SseEvent } from "./sse.ts";
import type { ProviderEvent } from "./types.ts";
import { upstreamError, type VendorError } from "./upstream-errors.ts";
import type { Scrub } from "../upstream-text.ts";
import { newUsage } from "../literals.ts";

/** Maps Anthropic's stop_reason. */
export function stopReason(v: unknown): FinishReason | undefined {
  switch (v) {
    case "end_turn":
    case "stop_sequence":
    case "pause_turn":
      return FinishReason.STOP;
    case "max_tokens":
    case "model_context_window_exceeded":
      return FinishReason.LENGTH;
    case "tool_use":
      return FinishReason.TOOL_CALLS;
    case "refusal":
      return FinishReason.CONTENT_FILTER;
    default:
      return undefined;
  }
}

const STATUS_OF_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

/** Reads Anthropic's error JSON. */
export function anthropicVendorError(status: number, body: Obj): VendorError {
  const e = obj(body["error"]) ?? body;
  const code = str(e, "type");
  const message = str(e, "message") ?? "";
  return {
    status,
    code,
    message,
    contextLength: status === 400 && /prompt is too long|context window|too many (input )?tokens/i.test(message),
    quota: status === 400 && /credit balance/i.test(message),
    // docs.anthropic.com/en/api/errors: 401 authentication_error, 403 permission_error.
    auth: code === "authentication_error" || code === "permission_error",
  };
}

function usageOf(input: Obj, outputTokens: number): Usage {
  const fresh = num(input["input_tokens"]);
  const cacheRead = num(input["cache_read_input_tokens"]);
  const cacheWrite = num(input["cache_creation_input_tokens"]);
  // Anthropic counts cached tokens apart from input_tokens; ours include them.
  const inputTokens = fresh + cacheRead + cacheWrite;
  return newUsage({
    inputTokens,
    outputTokens,
    cachedInputTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    totalTokens: inputTokens + outputTokens,
  });
}

/** The text of a text_delta event; undefined for any other. */
function plainText(data: string): string | undefined {
  try {
    const event = obj(JSON.parse(data));
    const delta = obj(event?.["delta"]);
    const text = delta?.["text"];
    return str(event, "type") === "content_block_delta" && str(delta, "type") === "text_delta" && typeof text === "string" ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns the Messages event stream into events, a batch per batch of SSE
 * events; throws if it ends before message_stop (after the events decoded
 * before it).
 */
export async function* messageEvents(events: AsyncIterable<readonly SseEvent[]>, hop: TargetRef, provider: string, scrub: Scrub): AsyncGenerator<ProviderEvent[]> {
  let inputUsage: Obj = {};
  let outputTokens = 0;
  let finish: FinishReason | undefined;
  const toolIndex = new Map<number, number>();
  let out: ProviderEvent[] = [];
  const slot = new TextSlot(plainText);
  try {
    for await (const batch of events) {
      for (const ev of batch) {
        const fast = slot.match(ev.data);
        if (fast !== undefined) {
          if (fast !== "") out.push({ type: "text", text: fast });
          continue;
        }
        let data: Obj | undefined;
        try {
          data = obj(JSON.parse(ev.data));
        } catch {
          throw new GatewayError("MALFORMED_RESPONSE", "the upstream sent an event that is not JSON", { hop, upstreamStatus: 200 });
        }
        if (!data) continue;
        switch (str(data, "type") ?? ev.event) {
          case "message_start": {
            const usage = obj(obj(data["message"])?.["usage"]) ?? {};
            inputUsage = usage;
            outputTokens = num(usage["output_tokens"]);
            break;
          }
          case "content_block_start": {
            const block = obj(data["content_block"]);
            if (str(block, "type") === "tool_use") {
              const index = toolIndex.size;
              toolIndex.set(num(data["index"]), index);
              out.push({ type: "tool_call", index, id: str(block, "id") ?? "", name: str(block, "name") ?? "", arguments: "" });
            } else if (str(block, "type") === "text" && str(block, "text")) {
              out.push({ type: "text", text: str(block, "text") ?? "" });
            }
            break;
          }
          case "content_block_delta": {
            const delta = obj(data["delta"]);
            const kind = str(delta, "type");
            if (kind === "text_delta") {
              const t = str(delta, "text");
              if (t) {
                out.push({ type: "text", text: t });
                slot.learn(ev.data, t);
              }
            } else if (kind === "input_json_delta") {
              const index = toolIndex.get(num(data["index"]));
              const part = str(delta, "partial_json") ?? "";
              if (index !== undefined && part !== "") out.push({ type: "tool_call", index, arguments: part });
            }
            break;
          }
          case "message_delta": {
            finish = stopReason(obj(data["delta"])?.["stop_reason"]) ?? finish;
            const usage = obj(data["usage"]);
            if (usage && usage["output_tokens"] !== undefined) outputTokens = num(usage["output_tokens"]);
            break;
          }
          case "message_stop":
            out.push({ type: "usage", usage: usageOf(inputUsage, outputTokens) });
            out.push({ type: "finish", reason: finish ?? FinishReason.STOP });
            yield out;
            return;
          case "error": {
            const type = str(obj(data["error"]), "type") ?? "api_error";
            const status = STATUS_OF_TYPE[type] ?? 500;
            throw upstreamError(provider, hop, anthropicVendorError(status, data), {}, scrub);
          }
          default:
            // ping, content_block_stop, and event types added later.
            break;
        }
      }
      if (out.length > 0) {
        yield out;
        out = [];
      }
    }
  } catch (e) {
    if (out.length > 0) yield out;
    throw e;
  }
  throw new GatewayError("STREAM_DROPPED", "the upstream stream ended before message_stop", { hop, upstreamStatus: 200 });
}

/** Turns a whole `message` into the same events a stream gives. */
export function* wholeMessageEvents(body: Obj, hop: TargetRef): Generator<ProviderEvent> {
  if (str(body, "type") !== "message") {
    throw new GatewayError("MALFORMED_RESPONSE", "the upstream sent a body that is not a message", { hop, upstreamStatus: 200 });
  }
  let tools = 0;
  for (const b of arr(body["content"])) {
    const block = obj(b);
    if (str(block, "type") === "text" && str(block, "text")) yield { type: "text", text: str(block, "text") ?? "" };
    if (str(block, "type") === "tool_use") {
      yield { type: "tool_call", index: tools++, id: str(block, "id") ?? "", name: str(block, "name") ?? "", arguments: JSON.stringify(block?.["input"] ?? {}) };
    }
  }
  const usage = obj(body["usage"]) ?? {};
  yield { type: "usage", usage: usageOf(usage, num(usage["output_tokens"])) };
  yield { type: "finish", reason: stopReason(body["stop_reason"]) ?? FinishReason.STOP };
}
