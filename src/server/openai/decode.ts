/**
 * OpenAI Chat Completions JSON → the canonical CompleteRequest. Every field is
 * either translated or refused with a 400 naming it; a parameter Detour
 * cannot honour (n > 1, logprobs, logit_bias, audio…) is never dropped.
 */
import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import {
  CompleteRequestSchema,
  ContentPartSchema,
  ImageDetail,
  PromptCacheRetention,
  ReasoningEffort,
  ResponseFormatSchema,
  ResponseFormatType,
  Role,
  ToolChoiceMode,
  ToolChoiceSchema,
  ToolSchema,
  ServiceTier,
  Verbosity,
  type CompleteRequest,
  type Sampling,
  type ContentPart,
  type Message,
} from "../../../gen/detour/v1/chat_pb.js";
import { invalidRequest, shown } from "../../errors.ts";
import { namedShape, shapeOf, type Shape, type ShapeNode } from "../body-shape.ts";
import { arr, obj, type Obj } from "../../providers/json.ts";

/** What the handler needs besides the canonical request. */
export interface DecodedChat {
  readonly request: CompleteRequest;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

const ROLES: Record<string, Role> = { system: Role.SYSTEM, developer: Role.DEVELOPER, user: Role.USER, assistant: Role.ASSISTANT, tool: Role.TOOL };
const EFFORTS: Record<string, ReasoningEffort> = {
  none: ReasoningEffort.NONE,
  minimal: ReasoningEffort.MINIMAL,
  low: ReasoningEffort.LOW,
  medium: ReasoningEffort.MEDIUM,
  high: ReasoningEffort.HIGH,
  xhigh: ReasoningEffort.XHIGH,
};
const VERBOSITIES: Record<string, Verbosity> = { low: Verbosity.LOW, medium: Verbosity.MEDIUM, high: Verbosity.HIGH };
/** service_tier?: 'auto' | 'default' | 'flex' | 'scale' | 'priority' | 'fast' (openai SDK completions.d.ts). */
const TIERS: Record<string, ServiceTier> = {
  auto: ServiceTier.AUTO,
  default: ServiceTier.DEFAULT,
  flex: ServiceTier.FLEX,
  scale: ServiceTier.SCALE,
  priority: ServiceTier.PRIORITY,
  fast: ServiceTier.FAST,
};
/** prompt_cache_retention?: 'in_memory' | '24h'. */
const RETENTIONS: Record<string, PromptCacheRetention> = { in_memory: PromptCacheRetention.IN_MEMORY, "24h": PromptCacheRetention.EXTENDED };
const DETAILS: Record<string, ImageDetail> = { auto: ImageDetail.AUTO, low: ImageDetail.LOW, high: ImageDetail.HIGH };
const UNSUPPORTED: Record<string, string> = {
  logprobs: "token log probabilities are not returned by every target",
  top_logprobs: "token log probabilities are not returned by every target",
  logit_bias: "logit_bias cannot be honoured across providers",
  audio: "audio output is not supported",
  prediction: "predicted outputs are not supported",
  web_search_options: "web search is not supported",
  functions: "use tools instead of the deprecated functions",
  function_call: "use tool_choice instead of the deprecated function_call",
};
const KNOWN = new Set([
  "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stream", "stream_options",
  "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
  "user", "metadata", "n", "reasoning_effort", "modalities", "verbosity", "store", "prompt_cache_key", "prompt_cache_retention",
  "service_tier", "safety_identifier", ...Object.keys(UNSUPPORTED),
]);

const canonical = shapeOf(CompleteRequestSchema);
const limit = (path: string, node: ShapeNode | undefined): Record<string, ShapeNode> => (node?.maxItems === undefined ? {} : { [path]: { path, maxItems: node.maxItems } });

/** The canonical request's list limits under the names this API gives them, checked before parsing (json-prescan.ts). */
export const OPENAI_BODY_SHAPE: Shape = namedShape({
  ...limit("messages", canonical?.byName.get("messages")),
  ...limit("tools", canonical?.byName.get("tools")),
  ...limit("stop", canonical?.byName.get("sampling")?.shape?.byName.get("stop")),
});

/** Nesting allowed in free-form JSON (tool parameters, schemas): protobuf's JSON codec stops at 100 levels, and a much deeper Struct overflows the stack when converted. */
const MAX_JSON_DEPTH = 64;
const MAX_UINT32 = 2 ** 32 - 1;

/** A table entry for a string key; never one inherited from Object.prototype ("constructor", "__proto__"). */
function pick<T>(table: Record<string, T>, key: unknown): T | undefined {
  return typeof key === "string" && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The path of a caller's key under `parent`: `metadata.team`, or `metadata["a b"]` when it is not a plain name (or is empty). */
function member(parent: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

function str(v: unknown, field: string, required = false): string {
  if (v === undefined || v === null) {
    if (required) throw invalidRequest(field, "is required");
    return "";
  }
  if (typeof v !== "string") throw invalidRequest(field, `must be a string, got ${shown(v)}`);
  return v;
}

function num(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw invalidRequest(field, `must be a number, got ${shown(v)}`);
  return v;
}

function int(v: unknown, field: string, min = 0, max = MAX_UINT32): number | undefined {
  const n = num(v, field);
  if (n !== undefined && (!Number.isInteger(n) || n < min || n > max)) throw invalidRequest(field, `must be a whole number from ${min} to ${max}, got ${n}`);
  return n;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalidRequest(field, `must be true or false, got ${shown(v)}`);
  return v;
}

function object(v: unknown, field: string): Obj {
  const o = obj(v);
  if (!o) throw invalidRequest(field, `must be an object, got ${shown(v)}`);
  return o;
}

/** A free-form JSON object, such as a JSON schema, nested at most MAX_JSON_DEPTH deep. */
function freeform(v: unknown, field: string): JsonObject {
  const o = object(v, field);
  if (depth(o, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw invalidRequest(field, `nests deeper than ${MAX_JSON_DEPTH} levels`);
  return o as JsonObject;
}

/** The nesting depth of a JSON value, counting no further than `limit` + 1. */
function depth(v: unknown, limit: number): number {
  if (typeof v !== "object" || v === null) return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) deepest = Math.max(deepest, depth(x, limit - 1));
  return deepest + 1;
}

/** A value from `table`, or undefined when absent or null; anything else is refused naming the choices. */
function choice<T>(table: Record<string, T>, v: unknown, field: string): T | undefined {
  if (v === undefined || v === null) return undefined;
  const hit = pick(table, v);
  if (hit === undefined) throw invalidRequest(field, `${shown(v)} is not one of ${Object.keys(table).join(", ")}`);
  return hit;
}

/** Decodes a Chat Completions body; `routeOverride` comes from x-detour-route. */
export function decodeChat(body: unknown, routeOverride?: string): DecodedChat {
  const b = object(body, "body");
  for (const key of Object.keys(b)) {
    const unsupported = pick(UNSUPPORTED, key);
    if (unsupported !== undefined && b[key] !== undefined && b[key] !== null && b[key] !== false) throw invalidRequest(key, `not supported: ${unsupported}`);
    if (!KNOWN.has(key)) throw invalidRequest(member("", key), "is not a Chat Completions parameter Detour knows; remove it");
  }
  const n = int(b["n"], "n");
  if (n !== undefined && n !== 1) throw invalidRequest("n", "only n=1 is supported: no target returns several choices through the gateway");
  const modalities = b["modalities"];
  if (modalities !== undefined && modalities !== null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw invalidRequest("modalities", 'only ["text"] is supported');
  }
  const model = routeOverride || str(b["model"], "model", true);
  const messages = arr(b["messages"]);
  if (!Array.isArray(b["messages"]) || messages.length === 0) throw invalidRequest("messages", "must be a non-empty array of messages");

  const maxTokens = int(b["max_tokens"], "max_tokens", 1);
  const maxCompletion = int(b["max_completion_tokens"], "max_completion_tokens", 1);
  if (maxTokens !== undefined && maxCompletion !== undefined && maxTokens !== maxCompletion) {
    throw invalidRequest("max_completion_tokens", "conflicts with max_tokens: send one of them");
  }
  const stopRaw = b["stop"];
  const stop = stopRaw === undefined || stopRaw === null ? [] : typeof stopRaw === "string" ? [stopRaw] : arr(stopRaw).map((s, i) => str(s, `stop[${i}]`));
  const effort = choice(EFFORTS, b["reasoning_effort"], "reasoning_effort");
  const verbosity = choice(VERBOSITIES, b["verbosity"], "verbosity");
  // Past 2^53 JSON numbers are not exact, so such a seed would not be the caller's.
  const seed = int(b["seed"], "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const metadata = b["metadata"] === undefined || b["metadata"] === null ? {} : object(b["metadata"], "metadata");
  const streamOptions = b["stream_options"] === undefined || b["stream_options"] === null ? {} : object(b["stream_options"], "stream_options");
  const stream = bool(b["stream"], "stream") ?? false;

  // A typed literal: create() would walk the schema over the whole request on
  // every call (the fuzz test checks it survives an encode/decode round trip).
  const request: CompleteRequest = {
    $typeName: "detour.v1.CompleteRequest",
    model,
    messages: messages.map((m, i) => message(m, i)),
    tools: arr(b["tools"]).map((t, i) => create(ToolSchema, tool(t, i))),
    requestId: "",
    metadata: {},
    user: "",
    providerOptions: {},
    // Each reaches OpenAI-family targets as sent; other adapters translate
    // them or set the target aside (docs/providers.md has the table).
    promptCacheKey: str(b["prompt_cache_key"], "prompt_cache_key"),
    promptCacheRetention: choice(RETENTIONS, b["prompt_cache_retention"], "prompt_cache_retention") ?? PromptCacheRetention.UNSPECIFIED,
    serviceTier: choice(TIERS, b["service_tier"], "service_tier") ?? ServiceTier.UNSPECIFIED,
    safetyIdentifier: str(b["safety_identifier"], "safety_identifier"),
  };
  const store = bool(b["store"], "store");
  if (store !== undefined) request.store = store;
  if (b["tool_choice"] !== undefined && b["tool_choice"] !== null) request.toolChoice = create(ToolChoiceSchema, toolChoice(b["tool_choice"]));
  if (bool(b["parallel_tool_calls"], "parallel_tool_calls") !== undefined) request.parallelToolCalls = b["parallel_tool_calls"] as boolean;
  if (b["response_format"] !== undefined && b["response_format"] !== null) request.responseFormat = create(ResponseFormatSchema, responseFormat(b["response_format"]));
  const sampling: Sampling = { $typeName: "detour.v1.Sampling", stop, reasoningEffort: effort ?? ReasoningEffort.UNSPECIFIED, verbosity: verbosity ?? Verbosity.UNSPECIFIED };
  if (num(b["temperature"], "temperature") !== undefined) sampling.temperature = b["temperature"] as number;
  if (num(b["top_p"], "top_p") !== undefined) sampling.topP = b["top_p"] as number;
  if ((maxCompletion ?? maxTokens) !== undefined) sampling.maxOutputTokens = maxCompletion ?? maxTokens;
  if (seed !== undefined) sampling.seed = BigInt(seed);
  if (num(b["presence_penalty"], "presence_penalty") !== undefined) sampling.presencePenalty = b["presence_penalty"] as number;
  if (num(b["frequency_penalty"], "frequency_penalty") !== undefined) sampling.frequencyPenalty = b["frequency_penalty"] as number;
  request.sampling = sampling;
  request.user = str(b["user"], "user");
  request.metadata = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, str(v, member("metadata", k))]));
  return { request, stream, includeUsage: bool(streamOptions["include_usage"], "stream_options.include_usage") ?? false };
}

function message(v: unknown, i: number): Message {
  const path = `messages[${i}]`;
  const m = object(v, path);
  const roleName = str(m["role"], `${path}.role`, true);
  const role = pick(ROLES, roleName);
  if (role === undefined) throw invalidRequest(`${path}.role`, `${shown(roleName)} is not one of ${Object.keys(ROLES).join(", ")}`);
  const calls = arr(m["tool_calls"]).map((c, j) => {
    const call = object(c, `${path}.tool_calls[${j}]`);
    const fn = object(call["function"], `${path}.tool_calls[${j}].function`);
    return { id: str(call["id"], `${path}.tool_calls[${j}].id`, true), name: str(fn["name"], `${path}.tool_calls[${j}].function.name`, true), arguments: str(fn["arguments"], `${path}.tool_calls[${j}].function.arguments`) };
  });
  return {
    $typeName: "detour.v1.Message",
    role,
    content: content(m["content"], `${path}.content`),
    toolCalls: calls.map((c) => ({ $typeName: "detour.v1.ToolCall", ...c })),
    toolCallId: str(m["tool_call_id"], `${path}.tool_call_id`),
    name: str(m["name"], `${path}.name`),
  };
}

function content(v: unknown, path: string): ContentPart[] {
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return v === "" ? [] : [{ $typeName: "detour.v1.ContentPart", part: { case: "text", value: v } }];
  if (!Array.isArray(v)) throw invalidRequest(path, "must be a string or an array of content parts");
  return v.map((p, j): ContentPart => {
    const part = object(p, `${path}[${j}]`);
    const type = str(part["type"], `${path}[${j}].type`, true);
    if (type === "text") return { $typeName: "detour.v1.ContentPart", part: { case: "text", value: str(part["text"], `${path}[${j}].text`, true) } };
    if (type === "image_url") {
      const img = object(part["image_url"], `${path}[${j}].image_url`);
      const detail = img["detail"] === undefined ? ImageDetail.UNSPECIFIED : pick(DETAILS, img["detail"]);
      if (detail === undefined) throw invalidRequest(`${path}[${j}].image_url.detail`, "must be auto, low or high");
      return create(ContentPartSchema, { part: { case: "image", value: { source: { case: "url", value: str(img["url"], `${path}[${j}].image_url.url`, true) }, detail } } });
    }
    throw invalidRequest(`${path}[${j}].type`, `${shown(type)} parts are not supported; use text or image_url`);
  });
}

function tool(v: unknown, i: number) {
  const t = object(v, `tools[${i}]`);
  if (t["type"] !== "function") throw invalidRequest(`tools[${i}].type`, `only "function" tools are supported`);
  const fn = object(t["function"], `tools[${i}].function`);
  const params = fn["parameters"];
  return {
    name: str(fn["name"], `tools[${i}].function.name`, true),
    description: str(fn["description"], `tools[${i}].function.description`),
    ...(params !== undefined ? { parameters: freeform(params, `tools[${i}].function.parameters`) } : {}),
    strict: bool(fn["strict"], `tools[${i}].function.strict`) ?? false,
  };
}

function toolChoice(v: unknown) {
  if (v === "auto") return { choice: { case: "mode" as const, value: ToolChoiceMode.AUTO } };
  if (v === "none") return { choice: { case: "mode" as const, value: ToolChoiceMode.NONE } };
  if (v === "required") return { choice: { case: "mode" as const, value: ToolChoiceMode.REQUIRED } };
  const o = obj(v);
  const fn = obj(o?.["function"]);
  if (o?.["type"] === "function" && typeof fn?.["name"] === "string") return { choice: { case: "function" as const, value: fn["name"] } };
  throw invalidRequest("tool_choice", 'must be "auto", "none", "required" or {"type": "function", "function": {"name": …}}');
}

function responseFormat(v: unknown) {
  const rf = object(v, "response_format");
  switch (rf["type"]) {
    case "text":
      return { type: ResponseFormatType.TEXT };
    case "json_object":
      return { type: ResponseFormatType.JSON_OBJECT };
    case "json_schema": {
      const js = object(rf["json_schema"], "response_format.json_schema");
      return {
        type: ResponseFormatType.JSON_SCHEMA,
        jsonSchema: {
          name: str(js["name"], "response_format.json_schema.name", true),
          description: str(js["description"], "response_format.json_schema.description"),
          schema: freeform(js["schema"] ?? {}, "response_format.json_schema.schema"),
          strict: bool(js["strict"], "response_format.json_schema.strict") ?? false,
        },
      };
    }
    default:
      throw invalidRequest("response_format.type", "must be text, json_object or json_schema");
  }
}
