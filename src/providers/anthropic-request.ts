/**
 * Canonical request → Anthropic Messages body: system text apart, content
 * blocks, tool_use / tool_result, max_tokens always set, JSON output as
 * output_config.format. Parameters the Messages API has no place for are
 * refused with CAPABILITY_MISMATCH, so the chain falls back.
 */
import {
  ResponseFormatType,
  Role,
  ServiceTier,
  ToolChoiceMode,
  type CompleteRequest,
  type Message,
} from "../../gen/detour/v1/chat_pb.js";
import { GatewayError, invalidRequest } from "../errors.ts";
import { argumentsOf, textOf } from "./content.ts";
import { parseDataUrl } from "./media.ts";

type Json = Record<string, unknown>;

/** Builds the Messages body; `maxTokens` is used when the request sets no limit. */
export function anthropicBody(req: CompleteRequest, model: string, maxTokens: number, stream: boolean, extra?: Json): Json {
  refuseUnsupported(req, model);
  const system = req.messages
    .filter((m) => m.role === Role.SYSTEM || m.role === Role.DEVELOPER)
    .map((m) => textOf(m.content))
    .join("\n\n");
  const messages: { role: string; content: Json[] }[] = [];
  req.messages.forEach((m, i) => {
    if (m.role === Role.SYSTEM || m.role === Role.DEVELOPER) return;
    const role = m.role === Role.ASSISTANT ? "assistant" : "user";
    const blocks = contentBlocks(m, i);
    const prev = messages.at(-1);
    // The API wants user and assistant turns to alternate: merge neighbours.
    if (prev && prev.role === role) prev.content.push(...blocks);
    else messages.push({ role, content: blocks });
  });
  const body: Json = { model, max_tokens: req.sampling?.maxOutputTokens ?? maxTokens, messages };
  if (system) body["system"] = system;
  if (stream) body["stream"] = true;
  const s = req.sampling;
  if (s?.temperature !== undefined) body["temperature"] = s.temperature;
  if (s?.topP !== undefined) body["top_p"] = s.topP;
  if (s?.topK !== undefined) body["top_k"] = s.topK;
  if (s && s.stop.length > 0) body["stop_sequences"] = s.stop;
  if (req.tools.length > 0) {
    body["tools"] = req.tools.map((t) => ({
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      input_schema: t.parameters ?? { type: "object", properties: {} },
    }));
  }
  const choice = toolChoice(req);
  if (choice) body["tool_choice"] = choice;
  // Metadata { user_id } is Anthropic's end-user identifier (SDK
  // messages.d.ts Metadata); safety_identifier is OpenAI's successor to user.
  const userId = req.safetyIdentifier || req.user;
  if (userId) body["metadata"] = { user_id: userId };
  // service_tier?: 'auto' | 'standard_only': OpenAI's auto and default map
  // to them; the tiers without a counterpart are refused in refuseUnsupported.
  if (req.serviceTier === ServiceTier.AUTO) body["service_tier"] = "auto";
  if (req.serviceTier === ServiceTier.DEFAULT) body["service_tier"] = "standard_only";
  // Structured outputs: OutputConfig.format is a JSONOutputFormat
  // { type: "json_schema", schema } (SDK messages.d.ts); JSON mode has no
  // schema of its own, so it asks for any object.
  const rf = req.responseFormat;
  if (rf?.type === ResponseFormatType.JSON_SCHEMA) body["output_config"] = { format: { type: "json_schema", schema: rf.jsonSchema?.schema ?? { type: "object" } } };
  if (rf?.type === ResponseFormatType.JSON_OBJECT) body["output_config"] = { format: { type: "json_schema", schema: { type: "object", additionalProperties: true } } };
  // prompt_cache_key, prompt_cache_retention, store and metadata are hints
  // with no effect on the answer and no Messages counterpart: not sent.
  return extra ? { ...body, ...extra } : body;
}

function refuseUnsupported(req: CompleteRequest, model: string): void {
  const s = req.sampling;
  const refused: string[] = [];
  if (s?.seed !== undefined) refused.push("seed");
  if (s?.presencePenalty !== undefined) refused.push("presence_penalty");
  if (s?.frequencyPenalty !== undefined) refused.push("frequency_penalty");
  if (s?.reasoningEffort) refused.push("reasoning_effort");
  // These change the answer and have no Messages counterpart.
  if (s?.verbosity) refused.push("verbosity");
  if (req.serviceTier !== ServiceTier.UNSPECIFIED && req.serviceTier !== ServiceTier.AUTO && req.serviceTier !== ServiceTier.DEFAULT) {
    refused.push(`service_tier ${ServiceTier[req.serviceTier]?.toLowerCase() ?? req.serviceTier}`);
  }
  if (refused.length > 0) {
    throw new GatewayError("CAPABILITY_MISMATCH", `${model} (Anthropic Messages) does not support ${refused.join(", ")}`);
  }
}

function toolChoice(req: CompleteRequest): Json | undefined {
  const c = req.toolChoice?.choice;
  const noParallel = req.parallelToolCalls === false && req.tools.length > 0 ? { disable_parallel_tool_use: true } : {};
  if (c?.case === "function") return { type: "tool", name: c.value, ...noParallel };
  if (c?.case === "mode") {
    if (c.value === ToolChoiceMode.NONE) return { type: "none" };
    if (c.value === ToolChoiceMode.REQUIRED) return { type: "any", ...noParallel };
    return { type: "auto", ...noParallel };
  }
  return "disable_parallel_tool_use" in noParallel ? { type: "auto", ...noParallel } : undefined;
}


function contentBlocks(m: Message, i: number): Json[] {
  if (m.role === Role.TOOL) return [{ type: "tool_result", tool_use_id: m.toolCallId, content: textOf(m.content) }];
  const blocks: Json[] = [];
  m.content.forEach((p, j) => {
    if (p.part.case === "text") {
      if (p.part.value !== "") blocks.push({ type: "text", text: p.part.value });
    } else if (p.part.case === "image") {
      const img = p.part.value;
      if (img.source.case === "data") {
        blocks.push({ type: "image", source: { type: "base64", media_type: img.mediaType, data: Buffer.from(img.source.value).toString("base64") } });
      } else {
        const url = img.source.value ?? "";
        const inline = parseDataUrl(url);
        if (inline) blocks.push({ type: "image", source: { type: "base64", media_type: inline.mediaType, data: inline.base64 } });
        else if (/^https?:\/\//.test(url)) blocks.push({ type: "image", source: { type: "url", url } });
        else throw invalidRequest(`messages[${i}].content[${j}].image.url`, "must be an http(s) or base64 data: URL");
      }
    }
  });
  m.toolCalls.forEach((c, j) => {
    blocks.push({ type: "tool_use", id: c.id, name: c.name, input: argumentsOf(c, i, j, "Anthropic") });
  });
  return blocks;
}
