/**
 * A fake of OpenAI Chat Completions (and Azure's deployment URLs): the
 * `chat.completion` object, `chat.completion.chunk` SSE with `usage: null` on
 * every chunk and a final `choices: []` usage chunk when
 * `stream_options.include_usage` is set, `data: [DONE]`, streamed tool calls
 * (id, type and name first, argument fragments after), and the
 * `{"error": {message, type, param, code}}` bodies with their headers.
 */
import { pieces, startFake, words, type FakeReply, type FakeUsage, type Rendered, type VendorFake, type RecordedRequest } from "./vendor-fake.js";

const TYPE_OF_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "invalid_request_error",
  404: "invalid_request_error",
  429: "requests",
  500: "server_error",
  503: "server_error",
};

function usage(u: FakeUsage | undefined) {
  const x = u ?? { input: 9, output: 12 };
  return {
    prompt_tokens: x.input,
    completion_tokens: x.output,
    total_tokens: x.input + x.output,
    prompt_tokens_details: { cached_tokens: x.cached ?? 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: x.reasoning ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function model(req: RecordedRequest): string {
  const deployment = /\/deployments\/([^/]+)\//.exec(req.path)?.[1];
  return deployment ?? String(req.body["model"] ?? "gpt-4o-mini");
}

function render(req: RecordedRequest, reply: FakeReply, streaming: boolean): Rendered {
  const base = { id: "chatcmpl-fake123", created: 1_760_000_000, model: model(req), system_fingerprint: "fp_fake" };
  if (reply.kind === "error") {
    const headers: Record<string, string> = { "x-request-id": "req_fake", ...reply.headers };
    const body = { error: { message: reply.message ?? `fake error ${reply.status}`, type: TYPE_OF_STATUS[reply.status] ?? "server_error", param: null, code: reply.code ?? null } };
    return { kind: "json", status: reply.status, body, headers };
  }
  if (reply.kind !== "text" && reply.kind !== "tool_calls") return { kind: "none" };
  // A tool_choice naming one function ends with "stop", not "tool_calls" (WIRE-NOTES, recorded from the API).
  const forced = typeof req.body["tool_choice"] === "object" && req.body["tool_choice"] !== null;
  const finish = reply.kind === "tool_calls" ? (forced ? "stop" : "tool_calls") : (reply.finish ?? "stop");
  if (!streaming) {
    const message =
      reply.kind === "text"
        ? { role: "assistant", content: reply.text, refusal: null, annotations: [] }
        : {
            role: "assistant",
            content: null,
            refusal: null,
            annotations: [],
            tool_calls: reply.calls.map((c, i) => ({ id: c.id ?? `call_fake${i}`, type: "function", function: { name: c.name, arguments: c.arguments } })),
          };
    return {
      kind: "json",
      status: 200,
      body: { ...base, object: "chat.completion", choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage: usage(reply.usage), service_tier: "default" },
    };
  }
  const chunk = (delta: unknown, finishReason: string | null = null) =>
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", service_tier: "default", choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], usage: null, obfuscation: "xyz" })}\n\n`;
  const frames = [chunk({ role: "assistant", content: "", refusal: null })];
  if (reply.kind === "text") for (const piece of reply.chunks ?? words(reply.text)) frames.push(chunk({ content: piece }));
  else {
    reply.calls.forEach((c, index) => {
      frames.push(chunk({ tool_calls: [{ index, id: c.id ?? `call_fake${index}`, type: "function", function: { name: c.name, arguments: "" } }] }));
      for (const frag of c.chunks ?? pieces(c.arguments, 7)) frames.push(chunk({ tool_calls: [{ index, function: { arguments: frag } }] }));
    });
  }
  frames.push(chunk({}, finish));
  const options = req.body["stream_options"] as { include_usage?: boolean } | undefined;
  if (options?.include_usage) {
    frames.push(`data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage: usage(reply.usage) })}\n\n`);
  }
  frames.push("data: [DONE]\n\n");
  return { kind: "sse", frames };
}

/**
 * Reasoning models refuse max_tokens ("not compatible with o-series models":
 * openai SDK resources/chat/completions/completions.d.ts, max_tokens) with
 * the API's unsupported_parameter error.
 */
const REASONING = /^(o1|o3|o4|gpt-5)(-|$)/;

function refusal(req: RecordedRequest): Rendered | undefined {
  if (req.method !== "POST" || !req.path.endsWith("/chat/completions")) return undefined;
  if ("max_tokens" in req.body && REASONING.test(model(req))) {
    const message = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.";
    return { kind: "json", status: 400, body: { error: { message, type: "invalid_request_error", param: "max_tokens", code: "unsupported_parameter" } }, headers: { "x-request-id": "req_fake" } };
  }
  return undefined;
}

/** Starts a fake OpenAI-compatible server; its base URL is `url + "/v1"`. */
export function startOpenAIFake(): Promise<VendorFake> {
  return startFake({
    streaming: (req) => req.body["stream"] === true,
    render,
    malformedFrame: 'data: {"id": "chatcmpl-fake123", "choices": [{"delta": {"content": "oops"\n\n',
    reject: refusal,
    route(req) {
      if (req.method === "GET" && req.path.endsWith("/models")) {
        return { kind: "json", status: 200, body: { object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 1, owned_by: "fake" }] } };
      }
      return undefined;
    },
  });
}
