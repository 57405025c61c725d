/**
 * A fake of Gemini generateContent / streamGenerateContent?alt=sse: SSE
 * framed with "\r\n\r\n" as the real API does, candidates with text and
 * whole functionCall parts, finishReason, usageMetadata totals that grow on
 * every chunk, promptFeedback.blockReason for a blocked prompt, and the
 * `{"error": {code, message, status, details}}` bodies. It refuses with a
 * 400 INVALID_ARGUMENT what the real API refuses (refusal() below).
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
    // FunctionCall.id is optional (genai.d.ts FunctionCall): sent only when the script gives one.
    const parts = reply.calls.map((c) => ({ functionCall: { ...(c.id ? { id: c.id } : {}), name: c.name, args: JSON.parse(c.arguments) as unknown } }));
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const partsOf = (c: unknown): Obj[] => (isObj(c) && Array.isArray(c["parts"]) ? (c["parts"] as unknown[]).filter(isObj) : []);

/** The largest thinkingBudget per model family (ai.google.dev/gemini-api/docs/thinking, "Set budget"). */
const MAX_BUDGET: [RegExp, number][] = [[/gemini-2\.5-pro/, 32768], [/gemini-2\.5-flash/, 24576]];

/** Why the real API would refuse this request, or undefined. */
function refusal(req: RecordedRequest): string | undefined {
  const contents = Array.isArray(req.body["contents"]) ? (req.body["contents"] as unknown[]) : [];
  let calls = 0;
  for (const c of contents) {
    const parts = partsOf(c);
    const responses = parts.filter((p) => p["functionResponse"] !== undefined).length;
    // The API's own message for a function turn answered by the wrong number of parts.
    if (responses > 0 && responses !== calls) {
      return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.";
    }
    calls = parts.filter((p) => p["functionCall"] !== undefined).length;
    for (const p of parts) {
      // FileData { fileUri (required), mimeType (optional in the Gemini API: ai.google.dev/api/caching#FileData) }: when set, a real IANA type.
      const fd = p["fileData"];
      if (isObj(fd) && fd["mimeType"] !== undefined && !/^[a-z]+\/[a-z0-9.+-]+$/.test(String(fd["mimeType"]))) {
        return `Invalid value at 'contents.parts.file_data.mime_type' (${String(fd["mimeType"])})`;
      }
    }
  }
  const gen = req.body["generationConfig"];
  const budget = isObj(gen) && isObj(gen["thinkingConfig"]) ? gen["thinkingConfig"]["thinkingBudget"] : undefined;
  if (typeof budget === "number") {
    const model = /models\/([^:]+):/.exec(req.path)?.[1] ?? "";
    // 2.5 Pro cannot turn thinking off (docs: "Cannot disable thinking").
    if (budget === 0 && model.includes("gemini-2.5-pro")) return "Budget 0 is invalid. This model only works in thinking mode.";
    const max = MAX_BUDGET.find(([re]) => re.test(model))?.[1];
    if (max !== undefined && budget > max) return `The thinking budget ${budget} is invalid. Please choose a value between 0 and ${max}.`;
  }
  return undefined;
}

/** Starts a fake Gemini server; its API base URL is `url + "/v1beta"`. */
export function startGeminiFake(): Promise<VendorFake> {
  return startFake({
    streaming: (req) => req.path.endsWith(":streamGenerateContent"),
    render,
    malformedFrame: 'data: {"candidates": [{"content": \r\n\r\n',
    reject(req) {
      // Only versioned paths exist (v1beta is @google/genai's default apiVersion), for base and
      // tuned models (ai.google.dev/api/generate-content: models/* and tunedModels/*); others are a 404.
      if (!/^\/(v1|v1beta|v1alpha)\/(models|tunedModels)\/[^/]+:(generateContent|streamGenerateContent)$/.test(req.path)) {
        return { kind: "json", status: 404, body: { error: { code: 404, message: `The requested URL ${req.path} was not found on this server.`, status: "NOT_FOUND" } } };
      }
      const message = refusal(req);
      return message === undefined ? undefined : { kind: "json", status: 400, body: { error: { code: 400, message, status: "INVALID_ARGUMENT" } } };
    },
  });
}
