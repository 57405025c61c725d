/**
 * Gateway results → OpenAI shapes: the `chat.completion` object and the
 * `chat.completion.chunk` stream (role first, content and tool-call deltas,
 * a finish chunk, the `choices: []` usage chunk when asked, `[DONE]`).
 * Detour's own facts — the attempts trail, hops, cost — travel in a
 * `detour` extension field and in SSE comments, which the SDKs ignore.
 */
import { toJson } from "@bufbuild/protobuf";
import { FinishReason, type CompleteResponse, type Usage } from "../../../gen/detour/v1/result_pb.js";
import { HopSchema, type Done, type Hop } from "../../../gen/detour/v1/gateway_pb.js";
import { doneJson } from "./done-json.ts";

const FINISH: Record<number, string> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.TOOL_CALLS]: "tool_calls",
  [FinishReason.CONTENT_FILTER]: "content_filter",
};

/** OpenAI's finish_reason for ours. */
export function finishName(f: FinishReason): string {
  return FINISH[f] ?? "stop";
}

/** OpenAI's usage object. */
export function usageJson(u: Usage | undefined) {
  const input = u?.inputTokens ?? 0;
  const output = u?.outputTokens ?? 0;
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: u?.totalTokens || input + output,
    prompt_tokens_details: { cached_tokens: u?.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: u?.reasoningTokens ?? 0 },
  };
}

/** The model name OpenAI clients see: the target that answered. */
export function modelName(ref: { provider: string; model: string } | undefined, fallback: string): string {
  return ref ? `${ref.provider}/${ref.model}` : fallback;
}

const created = () => Math.floor(Date.now() / 1000);

/** A whole `chat.completion`. */
export function completionJson(res: CompleteResponse, requested: string) {
  const text = res.message?.content.map((p) => (p.part.case === "text" ? p.part.value : "")).join("") ?? "";
  const calls = res.message?.toolCalls ?? [];
  return {
    id: res.id,
    object: "chat.completion",
    created: created(),
    model: modelName(res.servedBy, requested),
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: calls.length > 0 && text === "" ? null : text,
          refusal: null,
          ...(calls.length > 0 ? { tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) } : {}),
        },
        logprobs: null,
        finish_reason: finishName(res.finishReason),
      },
    ],
    usage: usageJson(res.usage),
    detour: doneJson(doneOf(res)),
  };
}

/**
 * The answer's summary as the Done a stream ends with: the unary `detour`
 * field and a stream's last chunk carry the same object, so a client reads
 * the attempts trail (enums by name, targets as objects) one way for both.
 */
function doneOf(res: CompleteResponse): Done {
  return {
    $typeName: "detour.v1.Done",
    id: res.id,
    finishReason: res.finishReason,
    usage: res.usage,
    cost: res.cost,
    servedBy: res.servedBy,
    route: res.route,
    attempts: res.attempts,
    replayed: res.replayed,
  };
}

/**
 * Builds the chunks of one stream. Every chunk carries the same `id`,
 * `created` and `model`, as OpenAI's do (the spec: "Each chunk has the same
 * ID", "the same timestamp"): the model is the target that served the first
 * output, and stays so after a hop mid-answer — the target that finished is
 * in the last chunk's `detour.servedBy`. `system_fingerprint` is left out:
 * the spec has it as an optional string, and Detour has none to give. A
 * content chunk, one per token or so, is a template with the text's JSON
 * string in it, not an object serialised whole; a test checks the two are
 * the same bytes.
 */
export function createChunker(id: string, requested: string, includeUsage: boolean) {
  const createdAt = created();
  const base = (model: string) => ({ id, object: "chat.completion.chunk", created: createdAt, model });
  let model = requested;
  /** Set once the first chunk is made: the model no longer changes. */
  let fixed = false;
  const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const chunk = (delta: unknown, finish: string | null = null, extra: Record<string, unknown> = {}) => {
    fixed = true;
    return frame({ ...base(model), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}), ...extra });
  };
  // The content chunk around its text: `base` without its closing brace, then the choice.
  const contentTail = `},"logprobs":null,"finish_reason":null}]${includeUsage ? ',"usage":null' : ""}}\n\n`;
  // Made on the first content chunk.
  let contentHead = "";
  const head = () => {
    fixed = true;
    return (contentHead ||= `data: ${JSON.stringify(base(model)).slice(0, -1)},"choices":[{"index":0,"delta":{"content":`);
  };
  return {
    /** The serving target changed (start or hop). */
    target(ref: { provider: string; model: string } | undefined) {
      if (!ref || fixed) return;
      model = modelName(ref, requested);
    },
    content: (text: string) => head() + JSON.stringify(text) + contentTail,
    role: () => chunk({ role: "assistant", content: "", refusal: null }),
    toolCall(index: number, id: string, name: string, args: string) {
      const call = id ? { index, id, type: "function", function: { name, arguments: args } } : { index, function: { arguments: args } };
      return chunk({ tool_calls: [call] });
    },
    /** A comment the SDKs ignore, for observers of the raw stream. */
    hop: (h: Hop) => `: detour-hop ${JSON.stringify(toJson(HopSchema, h))}\n\n`,
    done(d: Done): string {
      const detour = { detour: doneJson(d) };
      let out = chunk({}, finishName(d.finishReason), includeUsage ? {} : detour);
      if (includeUsage) out += frame({ ...base(model), choices: [], usage: usageJson(d.usage), ...detour });
      return `${out}data: [DONE]\n\n`;
    },
    /** A terminal failure after the stream started: an SSE error event, then close. */
    error: (body: unknown) => `event: error\ndata: ${JSON.stringify(body)}\n\n`,
  };
}
