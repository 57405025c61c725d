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
