/**
 * What the real Messages API refuses, for the Anthropic fake: each rule
 * returns the message of the 400 invalid_request_error it answers, or
 * undefined. Sources are named beside each rule; they are the vendor's SDK
 * types (@anthropic-ai/sdk 1.13, resources/messages/messages.d.ts) and docs.
 */
import type { RecordedRequest } from "./vendor-fake.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The version @anthropic-ai/sdk 1.13 sends (client.js buildHeaders:
 * 'anthropic-version': '2026-10-21'); its MessageCreateParamsBase has no
 * temperature, top_p or top_k, so the API takes them as unknown fields.
 */
export const SAMPLING_FREE_VERSION = "2026-10-21";

/** Why the real API would refuse this request, or undefined. */
export function anthropicRefusal(req: RecordedRequest): string | undefined {
  if (req.method !== "POST" || !req.path.endsWith("/v1/messages")) return undefined;
  const b = req.body;
  const version = String(req.headers["anthropic-version"] ?? "");
  if (version >= SAMPLING_FREE_VERSION) {
    // Unknown body fields are refused as "<field>: Extra inputs are not permitted".
    for (const k of ["temperature", "top_p", "top_k"]) if (k in b) return `${k}: Extra inputs are not permitted`;
  }
  // service_tier?: 'auto' | 'standard_only' (MessageCreateParamsBase).
  if ("service_tier" in b && b["service_tier"] !== "auto" && b["service_tier"] !== "standard_only") {
    return `service_tier: Input should be 'auto' or 'standard_only'`;
  }
  // Metadata { user_id?: string | null } and nothing else.
  if ("metadata" in b) {
    const m = b["metadata"];
    if (!isObj(m)) return "metadata: Input should be a valid dictionary";
    for (const k of Object.keys(m)) if (k !== "user_id") return `metadata.${k}: Extra inputs are not permitted`;
  }
  // OutputConfig { effort?, format?: JSONOutputFormat { type: 'json_schema', schema: {...} } }.
  if ("output_config" in b) {
    const oc = b["output_config"];
    if (!isObj(oc)) return "output_config: Input should be a valid dictionary";
    for (const k of Object.keys(oc)) if (k !== "format" && k !== "effort") return `output_config.${k}: Extra inputs are not permitted`;
    const f = oc["format"];
    if (f !== undefined && f !== null && (!isObj(f) || f["type"] !== "json_schema" || !isObj(f["schema"]))) {
      return "output_config.format: Input should be {type: 'json_schema', schema: {...}}";
    }
  }
  // ThinkingConfigEnabled.budget_tokens: "Must be ≥1024 and less than max_tokens".
  const thinking = b["thinking"];
  if (isObj(thinking) && thinking["type"] === "enabled") {
    const budget = Number(thinking["budget_tokens"]);
    if (!(budget >= 1024)) return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";
    if (!(budget < Number(b["max_tokens"]))) return "`max_tokens` must be greater than `thinking.budget_tokens`";
  }
  return toolPairing(b["messages"]);
}

/**
 * Tool use ids are unique, and each tool_result answers a tool_use of the
 * message just before it (docs: "Each `tool_result` block must have a
 * corresponding `tool_use` block in the previous message").
 */
function toolPairing(messages: unknown): string | undefined {
  if (!Array.isArray(messages)) return "messages: Field required";
  const seen = new Set<string>();
  let previous = new Set<string>();
  for (const [i, m] of messages.entries()) {
    const blocks = isObj(m) && Array.isArray(m["content"]) ? (m["content"] as unknown[]).filter(isObj) : [];
    const uses = new Set<string>();
    for (const [j, block] of blocks.entries()) {
      if (block["type"] === "tool_use") {
        const id = String(block["id"]);
        if (seen.has(id)) return `messages.${i}.content.${j}: \`tool_use\` ids must be unique`;
        seen.add(id);
        uses.add(id);
      }
      if (block["type"] === "tool_result" && !previous.has(String(block["tool_use_id"]))) {
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block["tool_use_id"])}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
    }
    previous = uses;
  }
  return undefined;
}
