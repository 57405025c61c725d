/**
 * GatewayError → OpenAI's error JSON and HTTP status, as the official SDKs
 * expect: `{"error": {message, type, param, code}}`, with `retry-after` when
 * waiting helps.
 */
import { REASONS, type GatewayError } from "./errors.ts";

/** The HTTP answer for an error on the OpenAI-compatible API. */
export interface OpenAIErrorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: { error: { message: string; type: string; param: string | null; code: string } };
}

/** Maps a GatewayError to OpenAI's error shape. */
export function toOpenAIError(e: GatewayError): OpenAIErrorAnswer {
  const spec = REASONS[e.reason];
  const headers: Record<string, string> = {};
  if (e.retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
  // OpenAI answers a bad key with invalid_request_error / invalid_api_key.
  const type = e.reason === "UNAUTHENTICATED" ? "invalid_request_error" : spec.openaiType;
  const code = e.reason === "UNAUTHENTICATED" ? "invalid_api_key" : e.reason.toLowerCase();
  const param = e.field === undefined ? null : openaiField(e.field);
  // The engine names its own fields (sampling.temperature); the caller sent OpenAI's (temperature).
  const message = e.field !== undefined && param !== e.field && e.message.startsWith(`${e.field}:`) ? `${param}${e.message.slice(e.field.length)}` : e.message;
  return {
    status: spec.http,
    headers,
    body: { error: { message, type, param, code } },
  };
}

/** Where the engine's request fields sit in an OpenAI request, where they differ. */
const OPENAI_FIELDS: readonly (readonly [RegExp, string])[] = [
  [/^sampling\.max_output_tokens$/, "max_tokens"],
  [/^sampling\.(.+)$/, "$1"],
  [/^(tools\[\d+\])\.(name|description|parameters|strict)$/, "$1.function.$2"],
  [/^(messages\[\d+\]\.content\[\d+\])\.image(\..+)?$/, "$1.image_url$2"],
];

/** An engine field path (sampling.temperature) as the OpenAI request names it (temperature). */
export function openaiField(field: string): string {
  for (const [from, to] of OPENAI_FIELDS) if (from.test(field)) return field.replace(from, to);
  return field;
}
