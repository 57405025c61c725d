/**
 * Prompt and answer text for telemetry.include_content, in the OpenTelemetry
 * GenAI shapes (gen_ai.input.messages / gen_ai.output.messages: JSON arrays
 * of {role, parts}). Off by default; image bytes are never copied, only
 * their media type and size.
 */
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { Role, type Message } from "../../gen/detour/v1/chat_pb.js";

const ROLES: Record<number, string> = {
  [Role.SYSTEM]: "system",
  [Role.DEVELOPER]: "system",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
  [Role.TOOL]: "tool",
};

const FINISH: Record<number, string> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.TOOL_CALLS]: "tool_call",
  [FinishReason.CONTENT_FILTER]: "content_filter",
};

function parts(m: Message): object[] {
  const out: object[] = [];
  for (const p of m.content) {
    if (p.part.case === "text") {
      out.push(m.role === Role.TOOL ? { type: "tool_call_response", id: m.toolCallId, response: p.part.value } : { type: "text", content: p.part.value });
    } else if (p.part.case === "image") {
      const src = p.part.value.source;
      if (src.case === "url" && !src.value.startsWith("data:")) out.push({ type: "uri", modality: "image", uri: src.value });
      else out.push({ type: "image", mime_type: p.part.value.mediaType || undefined, bytes: src.case === "data" ? src.value.length : (src.value?.length ?? 0), content: "omitted" });
    }
  }
  for (const c of m.toolCalls) out.push({ type: "tool_call", id: c.id, name: c.name, arguments: c.arguments });
  return out;
}

/** gen_ai.input.messages for a request's messages. */
export function inputMessages(messages: readonly Message[]): object[] {
  return messages.map((m) => ({ role: ROLES[m.role] ?? "user", parts: parts(m) }));
}

/** gen_ai.output.messages for the answer. */
export function outputMessages(answer: Message, finish: FinishReason): object[] {
  return [{ role: "assistant", parts: parts(answer), finish_reason: FINISH[finish] ?? "stop" }];
}
