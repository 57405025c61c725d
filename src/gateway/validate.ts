/**
 * Request validation at the engine's door: the proto's protovalidate rules,
 * then the rules between fields that a schema cannot state. Every problem
 * names the field and the fix.
 */
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { CompleteRequestSchema, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { invalidRequest, shown } from "../errors.ts";
import { isBase64DataUrl } from "../providers/media.ts";

const validator = createValidator();

/** Image.url's limit (see chat.proto). */
const MAX_IMAGE_URL_CHARS = 10_000_000;

/** C0 and C1 control characters and DEL. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * What a model name may hold. It goes into upstream URLs, response headers
 * and logs, so no spaces, control characters (CR/LF) or non-ASCII; the
 * punctuation is what real model IDs use ("openrouter/meta-llama/x:free",
 * "claude-3-5-sonnet@20240620").
 */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:\/@+~-]*$/;

/** Throws INVALID_ARGUMENT naming `model` unless it is a model name's shape; before any lookup of it. */
export function checkModelName(model: string): void {
  if (!MODEL_NAME.test(model)) {
    throw invalidRequest("model", `${shown(model)} is not a model name: use letters, digits and . _ : / @ + ~ - (a route name, or "provider/model")`);
  }
}

/** Throws INVALID_REQUEST for the first problem found. */
export function validateRequest(req: CompleteRequest): void {
  const result = validator.validate(CompleteRequestSchema, req);
  if (result.kind === "error") throw invalidRequest("request", result.error.message);
  if (result.kind === "invalid") {
    const v = result.error.violations[0];
    if (v) throw invalidRequest(pathToString(v.field) || "request", v.message);
  }
  checkModelName(req.model);
  // The ID travels in headers (upstream, x-request-id) and logs: a line break
  // or other control character there splits them. Unicode is fine: it is
  // percent-encoded where it leaves as a header.
  if (CONTROL.test(req.requestId)) {
    throw invalidRequest("request_id", "contains a control character (a line break, tab, NUL, …); use up to 256 printable characters, such as a UUID");
  }
  const toolNames = new Set<string>();
  req.tools.forEach((t, i) => {
    if (toolNames.has(t.name)) throw invalidRequest(`tools[${i}].name`, `"${t.name}" is defined twice; tool names must be unique`);
    toolNames.add(t.name);
  });
  const choice = req.toolChoice?.choice;
  if (choice?.case === "function" && !toolNames.has(choice.value)) {
    throw invalidRequest("tool_choice.function", `"${choice.value}" is not one of the request's tools (${[...toolNames].join(", ") || "none given"})`);
  }
  req.messages.forEach((m, i) => {
    if (m.role === Role.TOOL && m.toolCallId === "") {
      throw invalidRequest(`messages[${i}].tool_call_id`, "a tool message must name the tool call it answers");
    }
    if (m.toolCalls.length > 0 && m.role !== Role.ASSISTANT) {
      throw invalidRequest(`messages[${i}].tool_calls`, "only assistant messages carry tool calls");
    }
    if (m.content.length === 0 && m.toolCalls.length === 0) {
      throw invalidRequest(`messages[${i}].content`, "a message needs content (or tool_calls, for an assistant)");
    }
    m.content.forEach((p, j) => {
      if (p.part.case === "image" && m.role !== Role.USER) {
        throw invalidRequest(`messages[${i}].content[${j}].image`, "images are accepted in user messages only");
      }
      // The proto's documented limit, checked here in O(1): UTF-16 units are
      // at least as many as code points, so a URL within it is within.
      if (p.part.case === "image" && p.part.value.source.case === "url" && p.part.value.source.value.length > MAX_IMAGE_URL_CHARS) {
        throw invalidRequest(`messages[${i}].content[${j}].image.url`, `is over ${MAX_IMAGE_URL_CHARS} characters; send a smaller image (over gRPC, its bytes can go in image.data)`);
      }
      if (p.part.case === "image" && p.part.value.source.case === "url" && !isImageUrl(p.part.value.source.value)) {
        throw invalidRequest(`messages[${i}].content[${j}].image.url`, `${shown(p.part.value.source.value)} is not an http(s) URL or a base64 data: URL; send "https://…" or "data:image/png;base64,…"`);
      }
      if (p.part.case === "image" && p.part.value.source.case === "data" && !p.part.value.mediaType) {
        throw invalidRequest(`messages[${i}].content[${j}].image.media_type`, 'inline image data needs a media_type such as "image/png"');
      }
    });
  });
}

/** An image URL a provider can take: http(s), or a base64 data: URL (what the adapters inline). */
function isImageUrl(url: string): boolean {
  return /^https?:\/\/[^\s/]/i.test(url) || isBase64DataUrl(url);
}
