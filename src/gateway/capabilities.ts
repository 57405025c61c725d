/**
 * Capability checks: what a request needs (tools, JSON schema, vision,
 * streaming, sampling parameters, context size) against what a target's model
 * can do. A target that cannot honour the request is never called; the
 * reason says exactly what is missing, so nothing is dropped silently.
 */
import { ResponseFormatType, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Capabilities } from "../../gen/detour/v1/gateway_pb.js";
import type { ModelEntry } from "../providers/types.ts";

/** What a request needs from a model. */
export interface Needs {
  readonly tools: boolean;
  readonly parallelToolCalls: boolean;
  readonly jsonMode: boolean;
  readonly jsonSchema: boolean;
  readonly vision: boolean;
  readonly streaming: boolean;
  readonly prefill: boolean;
  readonly sampling: readonly string[];
  readonly inputTokens: number;
  readonly maxOutputTokens: number;
}

/** The sampling parameters every OpenAI-compatible server accepts; unknown models get these. */
const COMMON_SAMPLING = new Set(["temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty"]);

/** Works out a request's needs; `streaming` for live (not buffered) calls. */
export function needsOf(req: CompleteRequest, streaming: boolean): Needs {
  const s = req.sampling;
  const sampling: string[] = [];
  if (s?.temperature !== undefined) sampling.push("temperature");
  if (s?.topP !== undefined) sampling.push("top_p");
  if (s?.topK !== undefined) sampling.push("top_k");
  if (s && s.stop.length > 0) sampling.push("stop");
  if (s?.seed !== undefined) sampling.push("seed");
  if (s?.presencePenalty !== undefined) sampling.push("presence_penalty");
  if (s?.frequencyPenalty !== undefined) sampling.push("frequency_penalty");
  if (s?.reasoningEffort) sampling.push("reasoning_effort");
  let chars = 0;
  let vision = false;
  for (const m of req.messages) {
    for (const p of m.content) {
      if (p.part.case === "text") chars += p.part.value.length;
      else if (p.part.case === "image") vision = true;
    }
    for (const c of m.toolCalls) chars += c.arguments.length + c.name.length;
  }
  for (const t of req.tools) chars += JSON.stringify(t.parameters ?? {}).length + t.description.length;
  const last = req.messages.at(-1);
  return {
    tools: req.tools.length > 0,
    parallelToolCalls: req.parallelToolCalls === true,
    jsonMode: req.responseFormat?.type === ResponseFormatType.JSON_OBJECT,
    jsonSchema: req.responseFormat?.type === ResponseFormatType.JSON_SCHEMA,
    vision,
    streaming,
    prefill: last?.role === Role.ASSISTANT && last.toolCalls.length === 0,
    sampling,
    // A cheap, deliberately low estimate (4 characters a token): it only
    // rules out targets that certainly cannot take the prompt.
    inputTokens: Math.ceil(chars / 4),
    maxOutputTokens: s?.maxOutputTokens ?? 0,
  };
}

/** The features a request may need and a model may lack, as the reason names them. */
const FEATURES: readonly (readonly [keyof Needs & keyof Capabilities, string])[] = [
  ["tools", "tool calling"],
  ["parallelToolCalls", "parallel tool calls"],
  ["jsonMode", "JSON mode"],
  ["jsonSchema", "JSON schema output"],
  ["vision", "image input"],
  ["prefill", "an assistant prefix (prefill)"],
];

/** Why a model cannot serve the needs, or undefined if it can. */
export function mismatch(model: string, entry: ModelEntry | undefined, needs: Needs): string | undefined {
  const wanted = FEATURES.filter(([k]) => needs[k] === true);
  if (!entry) {
    if (wanted.length > 0) {
      return `${model} is not in the model catalog, so its support for ${wanted.map(([, w]) => w).join(", ")} is unknown: declare its capabilities under providers[].models`;
    }
    const odd = needs.sampling.filter((p) => !COMMON_SAMPLING.has(p));
    return odd.length > 0 ? `${model} is not in the model catalog, so it is not known to accept ${odd.join(", ")}` : undefined;
  }
  const caps = entry.capabilities;
  const missing = wanted.filter(([k]) => caps[k] !== true).map(([, w]) => w);
  if (needs.streaming && !caps.streaming) missing.push("streaming");
  const refused = needs.sampling.filter((p) => !caps.samplingParams.includes(p));
  if (refused.length > 0) missing.push(`the parameter${refused.length > 1 ? "s" : ""} ${refused.join(", ")}`);
  if (caps.maxOutputTokens > 0 && needs.maxOutputTokens > caps.maxOutputTokens) {
    missing.push(`max_output_tokens ${needs.maxOutputTokens} (its limit is ${caps.maxOutputTokens})`);
  }
  if (caps.contextWindow > 0 && needs.inputTokens > caps.contextWindow) {
    missing.push(`a prompt of about ${needs.inputTokens} tokens (its context window is ${caps.contextWindow})`);
  }
  return missing.length > 0 ? `${model} does not support ${missing.join(", ")}` : undefined;
}
