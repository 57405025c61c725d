import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { ServiceError } from "@grpc/grpc-js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { createProviders } from "../../src/providers/registry.js";
import { createLogger } from "../../src/telemetry/log.js";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { FakeReply, VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { grpcClient, unary } from "../helpers/grpc.js";
import { userRequest } from "../helpers/requests.js";

// Short and dotted on purpose: none is shaped like a vendor key, so only an
// exact match of the configured values can catch them. All share "c4n".
const KEYS = { openai: "sk-c4n.4ry", anthropic: "ant.c4n4ry.k3y", gemini: "g00g.c4n4ry" } as const;
const HEADER = "hdr.c4n4ry.t0k";
const SECRETS = [...Object.values(KEYS), HEADER];
const PROMPT = "pr0mpt canary: my diagnosis is 93d1";

type Vendor = keyof typeof KEYS;

/** What a careless upstream sends: the key in every field, the header and the prompt in the prose. */
function leakyMessage(v: Vendor): string {
  return `Invalid value for 'messages[0].content': '${PROMPT}'. Key ${KEYS[v]} with x-tenant-token ${HEADER} is not allowed`;
}

function httpError(v: Vendor): FakeReply {
  const k = KEYS[v];
  const message = leakyMessage(v);
  if (v === "openai") return { kind: "raw_error", status: 400, body: { error: { message, type: k, param: k, code: k, status: k } } };
  if (v === "anthropic") return { kind: "raw_error", status: 400, body: { type: "error", error: { type: k, message, param: k, code: k, status: k } } };
  return { kind: "raw_error", status: 400, body: { error: { code: 400, message, status: k, details: [{ "@type": k, reason: k }] } } };
}

/** Some text, then the vendor's mid-stream error event, with the key everywhere. */
function streamError(v: Vendor): FakeReply {
  const k = KEYS[v];
  const message = leakyMessage(v);
  const reply: FakeReply = { kind: "text", text: "partial answer here" };
  if (v === "openai") return { kind: "raw_frames", afterFrames: 2, reply, frames: [`data: ${JSON.stringify({ error: { message, type: k, param: k, code: k, status: k } })}\n\n`] };
  if (v === "anthropic") return { kind: "raw_frames", afterFrames: 4, reply, frames: [`event: error\ndata: ${JSON.stringify({ type: "error", error: { type: k, message, param: k, code: k } })}\n\n`] };
  return { kind: "raw_frames", afterFrames: 1, reply, frames: [`data: ${JSON.stringify({ error: { code: 500, message, status: k } })}\n\n`] };
}

interface Canary {
  readonly t: TestApp;
  readonly fakes: Record<Vendor, VendorFake>;
  logs(): string;
  spans(): string;
  close(): Promise<void>;
}

async function startCanary(includeContent = false): Promise<Canary> {
  const fakes = { openai: await startOpenAIFake(), anthropic: await startAnthropicFake(), gemini: await startGeminiFake() };
  const env = { ...process.env, CANARY_OPENAI: KEYS.openai, CANARY_ANTHROPIC: KEYS.anthropic, CANARY_GEMINI: KEYS.gemini };
  const lines: string[] = [];
  const logger = createLogger("trace", new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer("t");
  const yaml = `auto_providers: false
breaker: { disabled: true }
telemetry: { include_content: ${includeContent} }
providers:
  - name: oai
    openai: { base_url: "${fakes.openai.url}/v1", api_key: { env: CANARY_OPENAI }, headers: { x-tenant-token: "${HEADER}" } }
  - name: ant
    anthropic: { base_url: "${fakes.anthropic.url}", api_key: { env: CANARY_ANTHROPIC } }
  - name: gem
    gemini: { base_url: "${fakes.gemini.url}/v1beta", api_key: { env: CANARY_GEMINI } }
routes:
  - { name: openai, targets: [{ model: oai/gpt-4o-mini }] }
  - { name: anthropic, targets: [{ model: ant/claude-haiku-4-5 }] }
  - { name: gemini, targets: [{ model: gem/gemini-2.5-flash }] }
`;
  const providers = createProviders(parseConfig(yaml, "canary.yaml"), { http: { env } });
  const t = await startApp(yaml, { logger, tracer, providers });
  return {
    t,
    fakes,
    logs: () => lines.join(""),
    spans: () => JSON.stringify(exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status])),
    async close() {
      await t.close();
      for (const f of Object.values(fakes)) await f.close();
    },
  };
}

function chat(t: TestApp, route: string, stream: boolean): Promise<Response> {
  return fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: route, stream, messages: [{ role: "user", content: PROMPT }] }),
  });
}

/** A Connect JSON error with its binary details decoded, so a key inside ErrorDetail's trail is visible. */
async function connectError(t: TestApp, route: string): Promise<string> {
  const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: route, messages: [{ role: "ROLE_USER", content: [{ text: PROMPT }] }] }),
  });
  assert.notEqual(res.status, 200);
  const text = await res.text();
  const body = JSON.parse(text) as { details?: { value?: string }[] };
  return [text, ...(body.details ?? []).map((d) => Buffer.from(d.value ?? "", "base64").toString("utf8"))].join("\n");
}

async function grpcError(t: TestApp, route: string): Promise<string> {
  const client = grpcClient(`127.0.0.1:${t.port}`);
  try {
    await unary(client, GatewayService.method.complete, userRequest(route, PROMPT));
  } catch (e) {
    const err = e as ServiceError;
    const bin = err.metadata.get("grpc-status-details-bin")[0];
    return [err.details, JSON.stringify(err.metadata.toJSON()), bin instanceof Buffer ? bin.toString("utf8") : ""].join("\n");
  } finally {
    client.close();
  }
  assert.fail("expected a gRPC error");
}

function assertNoSecret(where: string, text: string): void {
  assert.ok(text.length > 0, `${where} has content`);
  for (const s of SECRETS) assert.ok(!text.includes(s), `${JSON.stringify(s)} leaked into ${where}: ${text.slice(0, 2000)}`);
  assert.ok(!text.includes("c4n"), `part of a secret leaked into ${where}`);
}

describe("upstream errors that quote secrets or the prompt", () => {
  test("canary: a key or header an upstream quotes back in message, code, type, param or status reaches no error body, SSE event, log or span", async () => {
    const c = await startCanary();
    try {
      for (const v of ["openai", "anthropic", "gemini"] as const) {
        c.fakes[v].setDefault(httpError(v));
        const unaryRes = await chat(c.t, v, false);
        assert.equal(unaryRes.status, 400);
        const openaiBody = await unaryRes.text();
        assertNoSecret(`the OpenAI error (${v})`, openaiBody);
        assert.match(openaiBody, /answered HTTP 400/, "the caller still learns what the upstream said");
        assert.match(openaiBody, /\[redacted\]/);
        assertNoSecret(`the Connect error (${v})`, await connectError(c.t, v));
        assertNoSecret(`the gRPC error (${v})`, await grpcError(c.t, v));

        c.fakes[v].enqueue(streamError(v));
        const streamed = await chat(c.t, v, true);
        assert.equal(streamed.status, 200);
        const sse = await streamed.text();
        assert.match(sse, /event: error/, `${v}: the stream ends with an SSE error event`);
        assertNoSecret(`the SSE error event (${v})`, sse.slice(sse.indexOf("event: error")));
      }
      assert.equal(c.fakes.openai.requests.at(-1)?.headers["authorization"], `Bearer ${KEYS.openai}`, "the key did reach the upstream");
      assert.equal(c.fakes.anthropic.requests.at(-1)?.headers["x-api-key"], KEYS.anthropic);
      assert.equal(c.fakes.gemini.requests.at(-1)?.headers["x-goog-api-key"], KEYS.gemini);
      assertNoSecret("the logs", c.logs());
      assertNoSecret("the spans", c.spans());
    } finally {
      await c.close();
    }
  });

  test("canary: prompt text an upstream error quotes stays out of logs and spans without include_content, and still reaches the caller", async () => {
    const c = await startCanary();
    try {
      for (const v of ["openai", "anthropic", "gemini"] as const) {
        c.fakes[v].setDefault(httpError(v));
        const body = await (await chat(c.t, v, false)).text();
        assert.ok(body.includes(PROMPT), `${v}: the caller's own error names the value it sent`);
        await connectError(c.t, v);
        c.fakes[v].enqueue(streamError(v));
        await (await chat(c.t, v, true)).text();
      }
      const logs = c.logs();
      const spans = c.spans();
      assert.ok(!logs.includes(PROMPT) && !logs.includes("93d1"), `the prompt leaked into the logs: ${logs}`);
      assert.ok(!spans.includes(PROMPT) && !spans.includes("93d1"), `the prompt leaked into the spans: ${spans}`);
      assert.match(logs, /"error":"oai answered HTTP 400[^"]*: \[upstream message withheld\]"/, "the log still says who failed and how");
      assert.match(logs, /UPSTREAM_BAD_REQUEST/);
      assert.match(spans, /UPSTREAM_BAD_REQUEST/);
    } finally {
      await c.close();
    }
    const open = await startCanary(true);
    try {
      open.fakes.openai.setDefault(httpError("openai"));
      await (await chat(open.t, "openai", false)).text();
      assert.ok(open.logs().includes(PROMPT), "with include_content the operator asked for the text");
    } finally {
      await open.close();
    }
  });
});
