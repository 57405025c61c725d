/**
 * A fake of Anthropic Messages: the `message` object, the event stream
 * (message_start, content_block_start, ping, content_block_delta with
 * text_delta and input_json_delta — the first partial_json empty —,
 * content_block_stop, message_delta with stop_reason and output usage,
 * message_stop), `event: error` mid-stream, and the
 * `{"type":"error","error":{type,message}}` bodies (529 overloaded_error).
 * It refuses what the real API refuses (anthropic-rules.ts) with a 400.
 */
import { anthropicRefusal } from "./anthropic-rules.js";
import { pieces, startFake, words, type FakeReply, type FakeUsage, type Rendered, type RecordedRequest, type VendorFake } from "./vendor-fake.js";

const TYPE_OF_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

const STOP: Record<string, string> = { stop: "end_turn", length: "max_tokens", content_filter: "refusal" };

function ev(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function render(req: RecordedRequest, reply: FakeReply, streaming: boolean): Rendered {
  const model = String(req.body["model"] ?? "claude-haiku-4-5");
  if (reply.kind === "error") {
    const body = { type: "error", error: { type: reply.code ?? TYPE_OF_STATUS[reply.status] ?? "api_error", message: reply.message ?? `fake error ${reply.status}` }, request_id: "req_fake" };
    return { kind: "json", status: reply.status, body, headers: { "request-id": "req_fake", ...reply.headers } };
  }
  if (reply.kind === "stream_error") {
    return { kind: "sse", frames: [ev("error", { error: { type: reply.code, message: "Overloaded" } })] };
  }
  if (reply.kind !== "text" && reply.kind !== "tool_calls") return { kind: "none" };
  const u: FakeUsage = reply.usage ?? { input: 11, output: 15 };
  const stop = reply.kind === "tool_calls" ? "tool_use" : STOP[reply.finish ?? "stop"];
  const usage = { input_tokens: u.input - (u.cached ?? 0), cache_creation_input_tokens: 0, cache_read_input_tokens: u.cached ?? 0, output_tokens: u.output, service_tier: "standard" };
  const blocks =
    reply.kind === "text"
      ? [{ type: "text", text: reply.text }]
      : reply.calls.map((c, i) => ({ type: "tool_use", id: c.id ?? `toolu_fake${i}`, name: c.name, input: JSON.parse(c.arguments) as unknown }));
  const message = { id: "msg_fake", type: "message", role: "assistant", model, content: blocks, stop_reason: stop, stop_sequence: null, usage };
  if (!streaming) return { kind: "json", status: 200, body: message };
  const frames = [
    ev("message_start", { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } }),
  ];
  if (reply.kind === "text") {
    frames.push(ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }), ev("ping", {}));
    for (const piece of reply.chunks ?? words(reply.text)) frames.push(ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: piece } }));
    frames.push(ev("content_block_stop", { index: 0 }));
  } else {
    reply.calls.forEach((c, index) => {
      frames.push(ev("content_block_start", { index, content_block: { type: "tool_use", id: c.id ?? `toolu_fake${index}`, name: c.name, input: {} } }));
      frames.push(ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: "" } }));
      for (const frag of c.chunks ?? pieces(c.arguments, 7)) frames.push(ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: frag } }));
      frames.push(ev("content_block_stop", { index }));
    });
  }
  frames.push(ev("message_delta", { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: u.output } }), ev("message_stop", {}));
  return { kind: "sse", frames };
}

/** Starts a fake Anthropic server; its base URL is `url`. */
export function startAnthropicFake(): Promise<VendorFake> {
  return startFake({
    streaming: (req) => req.body["stream"] === true,
    render,
    malformedFrame: "event: content_block_delta\ndata: {not json\n\n",
    reject(req) {
      // The API serves /v1/messages at the host's root: a doubled /v1 is a 404.
      if (req.method === "POST" && req.path !== "/v1/messages") {
        return { kind: "json", status: 404, body: { type: "error", error: { type: "not_found_error", message: `Not Found: ${req.path}` }, request_id: "req_fake" } };
      }
      const message = anthropicRefusal(req);
      if (message === undefined) return undefined;
      const body = { type: "error", error: { type: "invalid_request_error", message }, request_id: "req_fake" };
      return { kind: "json", status: 400, body, headers: { "request-id": "req_fake" } };
    },
  });
}
