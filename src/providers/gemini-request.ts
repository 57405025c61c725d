/**
 * Canonical request → Gemini generateContent body: contents with user/model
 * roles and parts, systemInstruction, functionDeclarations and
 * functionCall/functionResponse parts, generationConfig with
 * responseMimeType/responseJsonSchema.
 */
import {
  ReasoningEffort,
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

const THINKING_BUDGET: Record<number, number> = {
  [ReasoningEffort.NONE]: 0,
  [ReasoningEffort.MINIMAL]: 0,
  [ReasoningEffort.LOW]: 1024,
  [ReasoningEffort.MEDIUM]: 8192,
  [ReasoningEffort.HIGH]: 24576,
};

/** The largest thinkingBudget (ai.google.dev/gemini-api/docs/thinking): xhigh asks for it. */
function maxBudget(model: string): number {
  return model.includes("2.5-pro") ? 32768 : 24576;
}

/** Builds the generateContent body. */
export function geminiBody(req: CompleteRequest, model: string, extra?: Json): Json {
  if (req.parallelToolCalls === false && req.tools.length > 0) {
    throw new GatewayError("CAPABILITY_MISMATCH", `${model} (Gemini) cannot be limited to one tool call per turn (parallel_tool_calls: false)`);
  }
  // What changes the answer and has no Gemini counterpart sets the target
  // aside; the cache and storage hints (prompt_cache_key, retention, store,
  // metadata, safety_identifier, user) do not change it and are not sent.
  if (req.sampling?.verbosity) throw new GatewayError("CAPABILITY_MISMATCH", `${model} (Gemini) has no verbosity setting`);
  if (req.serviceTier !== ServiceTier.UNSPECIFIED && req.serviceTier !== ServiceTier.AUTO && req.serviceTier !== ServiceTier.DEFAULT) {
    throw new GatewayError("CAPABILITY_MISMATCH", `${model} (Gemini) has no ${ServiceTier[req.serviceTier]?.toLowerCase() ?? "such"} service tier`);
  }
  if (req.sampling?.reasoningEffort === ReasoningEffort.NONE && model.includes("2.5-pro")) {
    throw new GatewayError("CAPABILITY_MISMATCH", `${model} cannot turn thinking off (reasoning_effort: none)`);
  }
  const system = req.messages.filter((m) => m.role === Role.SYSTEM || m.role === Role.DEVELOPER).map((m) => textOf(m.content)).join("\n\n");
  // Gemini answers a function call by name; the canonical request by call ID.
  // The map grows as the conversation is read, so a result resolves to the
  // latest call with its ID before it, even where an older client reused IDs
  // across turns.
  const callNames = new Map<string, string>();
  const contents: { role: string; parts: Json[] }[] = [];
  req.messages.forEach((m, i) => {
    for (const c of m.toolCalls) callNames.set(c.id, c.name);
    if (m.role === Role.SYSTEM || m.role === Role.DEVELOPER) return;
    const role = m.role === Role.ASSISTANT ? "model" : "user";
    const parts = messageParts(m, i, callNames);
    const prev = contents.at(-1);
    if (prev && prev.role === role) prev.parts.push(...parts);
    else contents.push({ role, parts });
  });
  const body: Json = { contents };
  if (system) body["systemInstruction"] = { parts: [{ text: system }] };
  if (req.tools.length > 0) {
    body["tools"] = [
      {
        functionDeclarations: req.tools.map((t) => ({
          name: t.name,
          ...(t.description ? { description: t.description } : {}),
          ...(t.parameters ? { parametersJsonSchema: t.parameters } : {}),
        })),
      },
    ];
  }
  const choice = req.toolChoice?.choice;
  if (choice) {
    const config: Json =
      choice.case === "function"
        ? { mode: "ANY", allowedFunctionNames: [choice.value] }
        : { mode: choice.value === ToolChoiceMode.NONE ? "NONE" : choice.value === ToolChoiceMode.REQUIRED ? "ANY" : "AUTO" };
    body["toolConfig"] = { functionCallingConfig: config };
  }
  const gen: Json = {};
  const s = req.sampling;
  if (s?.temperature !== undefined) gen["temperature"] = s.temperature;
  if (s?.topP !== undefined) gen["topP"] = s.topP;
  if (s?.topK !== undefined) gen["topK"] = s.topK;
  if (s?.maxOutputTokens !== undefined) gen["maxOutputTokens"] = s.maxOutputTokens;
  if (s && s.stop.length > 0) gen["stopSequences"] = s.stop;
  if (s?.seed !== undefined) gen["seed"] = Number(s.seed);
  if (s?.presencePenalty !== undefined) gen["presencePenalty"] = s.presencePenalty;
  if (s?.frequencyPenalty !== undefined) gen["frequencyPenalty"] = s.frequencyPenalty;
  if (s?.reasoningEffort) gen["thinkingConfig"] = { thinkingBudget: s.reasoningEffort === ReasoningEffort.XHIGH ? maxBudget(model) : THINKING_BUDGET[s.reasoningEffort] };
  const rf = req.responseFormat;
  if (rf?.type === ResponseFormatType.JSON_OBJECT) gen["responseMimeType"] = "application/json";
  if (rf?.type === ResponseFormatType.JSON_SCHEMA) {
    gen["responseMimeType"] = "application/json";
    gen["responseJsonSchema"] = rf.jsonSchema?.schema ?? {};
  }
  if (Object.keys(gen).length > 0) body["generationConfig"] = gen;
  return extra ? { ...body, ...extra } : body;
}


/** Image types by file extension, for the ones Gemini reads (ai.google.dev/gemini-api/docs/image-understanding). */
const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  gif: "image/gif",
};

/**
 * An https image's type from its URL's extension, or undefined: then
 * mimeType is left out (FileData.mimeType is optional in the Gemini API,
 * ai.google.dev/api/caching#FileData) rather than guessed as JPEG.
 */
function imageTypeOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return ext !== undefined && Object.hasOwn(IMAGE_TYPES, ext) ? IMAGE_TYPES[ext] : undefined;
}

function messageParts(m: Message, i: number, callNames: ReadonlyMap<string, string>): Json[] {
  if (m.role === Role.TOOL) {
    const name = callNames.get(m.toolCallId) ?? m.name;
    if (!name) {
      throw invalidRequest(`messages[${i}].tool_call_id`, `"${m.toolCallId}" matches no earlier assistant tool call (Gemini answers calls by function name)`);
    }
    const raw = textOf(m.content);
    let response: unknown;
    try {
      response = JSON.parse(raw);
    } catch {
      response = undefined;
    }
    const asObject = typeof response === "object" && response !== null && !Array.isArray(response) ? response : { result: raw };
    return [{ functionResponse: { name, response: asObject } }];
  }
  const parts: Json[] = [];
  m.content.forEach((p, j) => {
    if (p.part.case === "text") {
      if (p.part.value !== "") parts.push({ text: p.part.value });
    } else if (p.part.case === "image") {
      const img = p.part.value;
      if (img.source.case === "data") {
        parts.push({ inlineData: { mimeType: img.mediaType, data: Buffer.from(img.source.value).toString("base64") } });
      } else {
        const url = img.source.value ?? "";
        const inline = parseDataUrl(url);
        if (inline) parts.push({ inlineData: { mimeType: inline.mediaType, data: inline.base64 } });
        else if (/^https?:\/\//.test(url)) {
          const mimeType = img.mediaType || imageTypeOf(url);
          parts.push({ fileData: { ...(mimeType ? { mimeType } : {}), fileUri: url } });
        }
        else throw invalidRequest(`messages[${i}].content[${j}].image.url`, "must be an http(s) or base64 data: URL");
      }
    }
  });
  m.toolCalls.forEach((c, j) => {
    parts.push({ functionCall: { name: c.name, args: argumentsOf(c, i, j, "Gemini") } });
  });
  return parts;
}
