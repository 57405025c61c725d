/**
 * provider_options are vendor extras merged into the upstream body. They may
 * add what Detour has no field for, never replace what Detour sets: the
 * model (what the key may use and what it is charged at), the conversation,
 * streaming, the number of answers and the token limits (what a budget
 * reserves). Such keys are refused before any upstream call, naming the
 * field to use instead.
 */
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { invalidRequest } from "../errors.ts";

/** The body fields a wire format's adapter owns, each with what to send instead. */
type Owned = Readonly<Record<string, string>>;

const MODEL = "name the model in the request's model (a route or provider/model)";
const MESSAGES = "send the conversation in messages";
const STREAM = "call StreamComplete (stream: true over the OpenAI API) to stream";
const TOOLS = "declare tools in tools";
const CHOICE = "use tool_choice";
const MAX_TOKENS = "use sampling.max_output_tokens (max_tokens over the OpenAI API)";
const ONE_ANSWER = "Detour returns one answer per request; send several requests";

const OPENAI: Owned = {
  model: MODEL,
  messages: MESSAGES,
  stream: STREAM,
  stream_options: "Detour asks for usage itself",
  n: ONE_ANSWER,
  tools: TOOLS,
  functions: TOOLS,
  tool_choice: CHOICE,
  function_call: CHOICE,
  parallel_tool_calls: "use parallel_tool_calls",
  max_tokens: MAX_TOKENS,
  max_completion_tokens: MAX_TOKENS,
  response_format: "use response_format",
};

const ANTHROPIC: Owned = {
  model: MODEL,
  messages: MESSAGES,
  system: "send a system message in messages",
  stream: STREAM,
  max_tokens: MAX_TOKENS,
  tools: TOOLS,
  tool_choice: CHOICE,
};

const GEMINI: Owned = {
  model: MODEL,
  contents: MESSAGES,
  systemInstruction: "send a system message in messages",
  system_instruction: "send a system message in messages",
  tools: TOOLS,
  toolConfig: CHOICE,
  tool_config: CHOICE,
  generationConfig: "use sampling (temperature, top_p, max_output_tokens, …) and response_format",
  generation_config: "use sampling (temperature, top_p, max_output_tokens, …) and response_format",
};

const BY_WIRE: Readonly<Record<string, Owned>> = { openai: OPENAI, anthropic: ANTHROPIC, gemini: GEMINI };

/** A name no provider has may be one after a reload: every wire format's fields are refused. */
const ANY: Owned = { ...GEMINI, ...ANTHROPIC, ...OPENAI };

/** Builds the check of a request's provider_options against the configured providers' wire formats. */
export function providerOptionsCheck(config: Config): (req: CompleteRequest) => void {
  const owned = new Map<string, Owned>();
  for (const p of config.providers) owned.set(p.name, BY_WIRE[p.kind.case ?? ""] ?? {});
  return (req) => {
    for (const [vendor, extras] of Object.entries(req.providerOptions)) {
      const fields = owned.get(vendor) ?? ANY;
      for (const key of Object.keys(extras)) {
        const instead = Object.hasOwn(fields, key) ? fields[key] : undefined;
        if (instead !== undefined) {
          throw invalidRequest(`provider_options.${vendor}.${key}`, `is set by Detour and cannot be replaced by vendor extras; ${instead}`);
        }
      }
    }
  };
}
