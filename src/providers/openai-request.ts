/**
 * Canonical request → OpenAI Chat Completions body. Every field the request
 * sets is either translated or refused with CAPABILITY_MISMATCH; nothing is
 * dropped on the way.
 */
import {
  ImageDetail,
  PromptCacheRetention,
  ReasoningEffort,
  ServiceTier,
  Verbosity,
  ResponseFormatType,
  Role,
  ToolChoiceMode,
  type CompleteRequest,
  type ContentPart,
  type Message,
} from "../../gen/detour/v1/chat_pb.js";
import { textOf } from "./content.ts";
import { dataUrl } from "./media.ts";

/** Wire differences within the OpenAI-compatible family. */
export interface OpenAIFlavor {
  readonly maxTokensField: "max_tokens" | "max_completion_tokens";
  readonly streamUsage: boolean;
  readonly developerRole: boolean;
}

type Json = Record<string, unknown>;

const EFFORT: Record<number, string> = {
  [ReasoningEffort.NONE]: "none",
  [ReasoningEffort.XHIGH]: "xhigh",
  [ReasoningEffort.MINIMAL]: "minimal",
  [ReasoningEffort.LOW]: "low",
  [ReasoningEffort.MEDIUM]: "medium",
  [ReasoningEffort.HIGH]: "high",
};

const VERBOSITY: Record<number, string> = { [Verbosity.LOW]: "low", [Verbosity.MEDIUM]: "medium", [Verbosity.HIGH]: "high" };

const TIER: Record<number, string> = {
  [ServiceTier.AUTO]: "auto",
  [ServiceTier.DEFAULT]: "default",
  [ServiceTier.FLEX]: "flex",
  [ServiceTier.SCALE]: "scale",
  [ServiceTier.PRIORITY]: "priority",
  [ServiceTier.FAST]: "fast",
};

const RETENTION: Record<number, string> = { [PromptCacheRetention.IN_MEMORY]: "in_memory", [PromptCacheRetention.EXTENDED]: "24h" };

const TOOL_CHOICE: Record<number, string> = {
  [ToolChoiceMode.AUTO]: "auto",
  [ToolChoiceMode.NONE]: "none",
  [ToolChoiceMode.REQUIRED]: "required",
};

const DETAIL: Record<number, string> = {
  [ImageDetail.AUTO]: "auto",
  [ImageDetail.LOW]: "low",
  [ImageDetail.HIGH]: "high",
};

/** Builds the request body; `stream` selects SSE. */
export function openaiBody(req: CompleteRequest, model: string, flavor: OpenAIFlavor, stream: boolean, extra?: Json): Json {
  const body: Json = { model, messages: req.messages.map((m) => message(m, flavor)) };
  if (stream) {
    body["stream"] = true;
    if (flavor.streamUsage) body["stream_options"] = { include_usage: true };
  }
  if (req.tools.length > 0) {
    body["tools"] = req.tools.map((t) => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        parameters: t.parameters ?? { type: "object", properties: {} },
        ...(t.strict ? { strict: true } : {}),
      },
    }));
    if (req.parallelToolCalls !== undefined) body["parallel_tool_calls"] = req.parallelToolCalls;
  }
  const choice = req.toolChoice?.choice;
  if (choice?.case === "function") body["tool_choice"] = { type: "function", function: { name: choice.value } };
  else if (choice?.case === "mode") body["tool_choice"] = TOOL_CHOICE[choice.value];
  const rf = req.responseFormat;
  if (rf?.type === ResponseFormatType.TEXT) body["response_format"] = { type: "text" };
  if (rf?.type === ResponseFormatType.JSON_OBJECT) body["response_format"] = { type: "json_object" };
  if (rf?.type === ResponseFormatType.JSON_SCHEMA && rf.jsonSchema) {
    const js = rf.jsonSchema;
    body["response_format"] = {
      type: "json_schema",
      json_schema: {
        name: js.name,
        ...(js.description ? { description: js.description } : {}),
        schema: js.schema ?? {},
        ...(js.strict ? { strict: true } : {}),
      },
    };
  }
  const s = req.sampling;
  if (s) {
    if (s.temperature !== undefined) body["temperature"] = s.temperature;
    if (s.topP !== undefined) body["top_p"] = s.topP;
    if (s.maxOutputTokens !== undefined) body[flavor.maxTokensField] = s.maxOutputTokens;
    if (s.stop.length > 0) body["stop"] = s.stop;
    if (s.seed !== undefined) body["seed"] = Number(s.seed);
    if (s.presencePenalty !== undefined) body["presence_penalty"] = s.presencePenalty;
    if (s.frequencyPenalty !== undefined) body["frequency_penalty"] = s.frequencyPenalty;
    // top_k is not OpenAI's, but vLLM, Together and others accept it; the
    // capability check keeps it from models that do not.
    if (s.topK !== undefined) body["top_k"] = s.topK;
    const effort = EFFORT[s.reasoningEffort];
    if (effort) body["reasoning_effort"] = effort;
    const verbosity = VERBOSITY[s.verbosity];
    if (verbosity) body["verbosity"] = verbosity;
  }
  // The family's request hints, as the caller sent them.
  if (req.user) body["user"] = req.user;
  if (req.safetyIdentifier) body["safety_identifier"] = req.safetyIdentifier;
  if (req.promptCacheKey) body["prompt_cache_key"] = req.promptCacheKey;
  const retention = RETENTION[req.promptCacheRetention];
  if (retention) body["prompt_cache_retention"] = retention;
  const tier = TIER[req.serviceTier];
  if (tier) body["service_tier"] = tier;
  if (req.store !== undefined) body["store"] = req.store;
  if (Object.keys(req.metadata).length > 0) body["metadata"] = req.metadata;
  return extra ? { ...body, ...extra } : body;
}

function message(m: Message, flavor: OpenAIFlavor): Json {
  switch (m.role) {
    case Role.SYSTEM:
      return { role: "system", content: textOf(m.content), ...named(m) };
    case Role.DEVELOPER:
      return { role: flavor.developerRole ? "developer" : "system", content: textOf(m.content), ...named(m) };
    case Role.ASSISTANT: {
      const out: Json = { role: "assistant", content: m.content.length > 0 ? textOf(m.content) : null, ...named(m) };
      if (m.toolCalls.length > 0) {
        out["tool_calls"] = m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
      }
      return out;
    }
    case Role.TOOL:
      return { role: "tool", tool_call_id: m.toolCallId, content: textOf(m.content) };
    default:
      return { role: "user", content: userContent(m.content), ...named(m) };
  }
}

function named(m: Message): Json {
  return m.name ? { name: m.name } : {};
}


function userContent(parts: readonly ContentPart[]): string | Json[] {
  if (parts.every((p) => p.part.case === "text")) return textOf(parts);
  return parts.map((p) => {
    if (p.part.case === "image") {
      const img = p.part.value;
      const url = img.source.case === "data" ? dataUrl(img.mediaType, img.source.value) : (img.source.value ?? "");
      const detail = DETAIL[img.detail];
      return { type: "image_url", image_url: { url, ...(detail ? { detail } : {}) } };
    }
    return { type: "text", text: p.part.case === "text" ? p.part.value : "" };
  });
}
