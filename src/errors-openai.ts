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
  return {
    status: spec.http,
    headers,
    body: { error: { message: e.message, type, param: e.field ?? null, code } },
  };
}
