/**
 * Reading the canonical message content the way every adapter needs it.
 */
import type { ContentPart, ToolCall } from "../../gen/detour/v1/chat_pb.js";
import { invalidRequest } from "../errors.ts";

/** The text parts of a message, joined. */
export function textOf(parts: readonly ContentPart[]): string {
  return parts.map((p) => (p.part.case === "text" ? p.part.value : "")).join("");
}

/** A tool call's arguments as an object, for vendors that want one, or a 400 naming the field. */
export function argumentsOf(c: ToolCall, message: number, call: number, vendor: string): unknown {
  try {
    return c.arguments.trim() === "" ? {} : JSON.parse(c.arguments);
  } catch {
    throw invalidRequest(`messages[${message}].tool_calls[${call}].arguments`, `must be JSON text (${vendor} needs the arguments as an object)`);
  }
}
