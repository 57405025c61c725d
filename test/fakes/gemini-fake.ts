/**
 * A fake of Gemini generateContent / streamGenerateContent?alt=sse: SSE
 * framed with "\r\n\r\n" as the real API does, candidates with text and
 * whole functionCall parts, finishReason, usageMetadata totals that grow on
 * every chunk, promptFeedback.blockReason for a blocked prompt, and the
 * `{"error": {code, message, status, details}}` bodies.
 */
import { startFake, words, type FakeReply, type FakeUsage, type Rendered, type RecordedRequest, type VendorFake } from "./vendor-fake.js";

const STATUS_OF_CODE: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const FINISH: Record<string, string> = { stop: "STOP", length: "MAX_TOKENS", content_filter: "SAFETY" };

function usage(u: FakeUsage, outputSoFar: number) {
  return {
    promptTokenCount: u.input,
    candidatesTokenCount: outputSoFar,
    totalTokenCount: u.input + outputSoFar + (u.reasoning ?? 0),
    ...(u.cached ? { cachedContentTokenCount: u.cached } : {}),
    ...(u.reasoning ? { thoughtsTokenCount: u.reasoning } : {}),
  };
}

function render(req: RecordedRequest, reply: FakeReply, streaming: boolean): Rendered {
  const modelVersion = /models\/([^:]+):/.exec(req.path)?.[1] ?? "gemini-2.5-flash";
  if (reply.kind === "error") {
    const status = STATUS_OF_CODE[reply.status] ?? "INTERNAL";
    const details = reply.status === 429 ? [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "17s" }] : [];
    return { kind: "json", status: reply.status, body: { error: { code: reply.status, message: reply.message ?? `fake error ${reply.status}`, status, details } }, headers: reply.headers ?? {} };
  }
  if (reply.kind === "blocked") {
    const body = { promptFeedback: { blockReason: reply.reason, safetyRatings: [] }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 }, modelVersion };
    return streaming ? { kind: "sse", frames: [`data: ${JSON.stringify(body)}\r\n\r\n`] } : { kind: "json", status: 200, body };
  }
  if (reply.kind !== "text" && reply.kind !== "tool_calls") return { kind: "none" };
  const u = reply.usage ?? { input: 8, output: 10 };
  const finishReason = reply.kind === "tool_calls" ? "STOP" : FINISH[reply.finish ?? "stop"];
  const response = (parts: unknown[], done: boolean, outputSoFar: number) => ({
    candidates: [{ content: { parts, role: "model" }, ...(done ? { finishReason } : {}), index: 0 }],
    usageMetadata: usage(u, outputSoFar),
    modelVersion,
    responseId: "resp_fake",
  });
  if (reply.kind === "tool_calls") {
    const parts = reply.calls.map((c) => ({ functionCall: { name: c.name, args: JSON.parse(c.arguments) as unknown } }));
    const body = response(parts, true, u.output);
    return streaming ? { kind: "sse", frames: [`data: ${JSON.stringify(body)}\r\n\r\n`] } : { kind: "json", status: 200, body };
  }
  if (!streaming) return { kind: "json", status: 200, body: response([{ text: reply.text }], true, u.output) };
  const chunks = reply.chunks ?? words(reply.text);
  const frames = chunks.map((piece, i) => {
    const last = i === chunks.length - 1;
    const soFar = Math.round(((i + 1) / chunks.length) * u.output);
    return `data: ${JSON.stringify(response([{ text: piece }], last, soFar))}\r\n\r\n`;
  });
  return { kind: "sse", frames };
}

/** Starts a fake Gemini server; its API base URL is `url + "/v1beta"`. */
export function startGeminiFake(): Promise<VendorFake> {
  return startFake({
    streaming: (req) => req.path.endsWith(":streamGenerateContent"),
    render,
    malformedFrame: 'data: {"candidates": [{"content": \r\n\r\n',
  });
}
