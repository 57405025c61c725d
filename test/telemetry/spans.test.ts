import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { userRequest } from "../helpers/requests.js";
import { MessageSchema, Role } from "../../gen/detour/v1/chat_pb.js";
import { CapabilitiesSchema } from "../../gen/detour/v1/gateway_pb.js";
import type { RequestRecord } from "../../src/gateway/observer.js";
import { Writable } from "node:stream";
import { createLogger } from "../../src/telemetry/log.js";
import { requestLogObserver } from "../../src/telemetry/request-log.js";
import { scriptedProvider } from "../helpers/scripted-provider.js";

test("a 3-hop fallback is one request span with a CLIENT child per attempt, saying why each moved on", async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const a = scriptedProvider("a", async function* () {
    throw new GatewayError("RATE_LIMITED", "slow down", { upstreamStatus: 429 });
  });
  const b = scriptedProvider("b", async function* () {
    throw new GatewayError("UPSTREAM_UNAVAILABLE", "down", { upstreamStatus: 503 });
  });
  const c = scriptedProvider("c", async function* () {
    yield { type: "text", text: "Paris is the capital of France." };
    yield { type: "usage", usage: create(UsageSchema, { inputTokens: 12, outputTokens: 7, totalTokens: 19 }) };
    yield { type: "finish", reason: FinishReason.STOP };
  });
  const config = parseConfig(
    `providers:
${["a", "b", "c"].map((n) => `  - { name: ${n}, simulated: { models: [{ name: m }] } }`).join("\n")}
breaker: { disabled: true }
routes: [{ name: r, targets: [{ model: a/m }, { model: b/m }, { model: c/m }] }]
`,
    "t",
    { env: {} },
  );
  const gw = createGateway(config, { providers: new Map([["a", a], ["b", b], ["c", c]]), tracer: provider.getTracer("test") });
  const secret = "What is the capital of France? my-secret-prompt";
  await gw.complete(userRequest("r", secret), { signal: new AbortController().signal });

  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === "chat r");
  assert.ok(root, "the request span");
  const children = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
  assert.equal(children.length, 3);
  assert.ok(children.every((s) => s.kind === SpanKind.CLIENT && s.spanContext().traceId === root.spanContext().traceId));
  const byProvider = (p: string) => children.find((s) => s.attributes["detour.provider"] === p);
  assert.deepEqual(
    ["a", "b", "c"].map((p) => [byProvider(p)?.attributes["detour.hop.index"], byProvider(p)?.attributes["detour.decision"], byProvider(p)?.attributes["error.type"]]),
    [
      [0, "fallback", "RATE_LIMITED"],
      [1, "fallback", "UPSTREAM_UNAVAILABLE"],
      [2, "return", undefined],
    ],
  );
  const won = byProvider("c");
  assert.equal(won?.attributes["gen_ai.operation.name"], "chat");
  assert.equal(won?.attributes["gen_ai.provider.name"], "test");
  assert.equal(won?.attributes["gen_ai.request.model"], "m");
  assert.equal(won?.attributes["gen_ai.response.model"], "m");
  assert.equal(won?.attributes["gen_ai.usage.input_tokens"], 12);
  assert.equal(won?.attributes["gen_ai.usage.output_tokens"], 7);
  assert.equal(typeof won?.attributes["detour.ttft_ms"], "number");
  assert.equal(byProvider("a")?.status.code, SpanStatusCode.ERROR);
  assert.equal(byProvider("a")?.attributes["http.response.status_code"], 429);
  assert.equal(root.attributes["detour.fallbacks"], 2);
  assert.equal(root.attributes["detour.served_by.provider"], "c");
  const everything = JSON.stringify(spans.map((s) => [s.name, s.attributes, s.events]));
  assert.ok(!everything.includes("my-secret-prompt"), "no prompt text in spans");
  assert.ok(!everything.includes("Paris"), "no completion text in spans");
  await provider.shutdown();
});

test("telemetry.include_content puts the prompt and the answer in the request span and the request log, in GenAI shapes", async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const c = scriptedProvider("c", async function* () {
    yield { type: "text", text: "Paris" };
    yield { type: "tool_call", index: 0, id: "call_1", name: "lookup", arguments: '{"q":"France"}' };
    yield { type: "finish", reason: FinishReason.TOOL_CALLS };
  });
  const plain = c.models;
  c.models = () => plain().map((m) => ({ ...m, capabilities: create(CapabilitiesSchema, { tools: true, streaming: true, vision: true }) }));
  const failing = scriptedProvider("f", async function* () {
    throw new GatewayError("UPSTREAM_UNAVAILABLE", "down", { upstreamStatus: 503 });
  });
  const config = parseConfig(
    `providers:
  - { name: c, simulated: { models: [{ name: m }] } }
  - { name: f, simulated: { models: [{ name: m }] } }
breaker: { disabled: true }
telemetry: { include_content: true }
`,
    "t",
    { env: {} },
  );
  const records: RequestRecord[] = [];
  const lines: string[] = [];
  const gw = createGateway(config, { providers: new Map([["c", c], ["f", failing]]), tracer: provider.getTracer("test"), observers: [{ onRequest: (r) => records.push(r) }, requestLogObserver(createLogger("info", new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) })))] });
  const req = userRequest("c/m", "Capital of France?");
  req.messages.unshift(create(MessageSchema, { role: Role.SYSTEM, content: [{ part: { case: "text", value: "Be brief." } }] }));
  req.messages.push(create(MessageSchema, { role: Role.USER, content: [{ part: { case: "image", value: { source: { case: "data", value: new Uint8Array(1000) }, mediaType: "image/png" } } }] }));
  await gw.complete(req, { signal: new AbortController().signal });
  await gw.complete(userRequest("f/m", "Will this fail?"), { signal: new AbortController().signal }).catch(() => undefined);
  // Observers hear of a request once the transport has written its answer (a tick later).
  await new Promise((resolve) => setImmediate(resolve));

  const [ok, failed] = exporter.getFinishedSpans().filter((s) => s.name.startsWith("chat ") && s.kind === SpanKind.INTERNAL);
  assert.deepEqual(JSON.parse(String(ok?.attributes["gen_ai.input.messages"])), [
    { role: "system", parts: [{ type: "text", content: "Be brief." }] },
    { role: "user", parts: [{ type: "text", content: "Capital of France?" }] },
    { role: "user", parts: [{ type: "image", mime_type: "image/png", bytes: 1000, content: "omitted" }] },
  ]);
  assert.deepEqual(JSON.parse(String(ok?.attributes["gen_ai.output.messages"])), [
    { role: "assistant", parts: [{ type: "text", content: "Paris" }, { type: "tool_call", id: "call_1", name: "lookup", arguments: '{"q":"France"}' }], finish_reason: "tool_call" },
  ]);
  assert.match(String(failed?.attributes["gen_ai.input.messages"]), /Will this fail\?/);
  assert.equal(failed?.attributes["gen_ai.output.messages"], undefined, "a failed request has no answer");
  assert.deepEqual(records[0]?.content?.output, JSON.parse(String(ok?.attributes["gen_ai.output.messages"])));
  assert.equal(records[1]?.content?.output, undefined);
  const logged = lines.map((l) => JSON.parse(l) as { input_messages?: unknown; output_messages?: unknown });
  assert.deepEqual(logged[0]?.output_messages, records[0]?.content?.output);
  assert.match(JSON.stringify(logged[1]?.input_messages), /Will this fail\?/);
  await provider.shutdown();
});

test("the request log follows log_level: at warn, failures are logged and successes are not", () => {
  const lines: string[] = [];
  const observer = requestLogObserver(createLogger("warn", new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) })));
  const base = { id: "cmpl-1", route: "r", model: "r", streaming: false, latencyMs: 12, endedAt: 0, traceId: "0".repeat(32), spanId: "0".repeat(16), attempts: [], servedBy: undefined, usage: undefined, answerUsd: 0, wastedUsd: 0, content: undefined };
  observer.onRequest({ ...base, outcome: "ok", message: "" });
  observer.onRequest({ ...base, id: "cmpl-2", outcome: "UPSTREAM_UNAVAILABLE", message: "all 2 attempts failed" });
  assert.equal(lines.length, 1);
  assert.deepEqual(
    (({ id, outcome, error, msg }) => ({ id, outcome, error, msg }))(JSON.parse(lines[0]!) as Record<string, unknown>),
    { id: "cmpl-2", outcome: "UPSTREAM_UNAVAILABLE", error: "all 2 attempts failed", msg: "request failed" },
  );
});
