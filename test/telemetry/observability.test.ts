import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { AggregationTemporality, MeterProvider } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { createHistograms } from "../../src/telemetry/histograms.js";
import { createLogger } from "../../src/telemetry/log.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import { SIM_CONFIG, startApp } from "../helpers/app.js";
import { startOtlpReceiver } from "../helpers/otlp.js";
import { spawnGateway } from "../helpers/process.js";

function inProcessMetrics() {
  const histograms = createHistograms();
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [histograms.producer(() => AggregationTemporality.CUMULATIVE)] });
  const provider = new MeterProvider({ readers: [prometheus] });
  return { provider, telemetry: { meter: provider.getMeter("detour"), histograms, metricsHandler: prometheus.getMetricsRequestHandler.bind(prometheus) } };
}

/** Parses Prometheus text exposition, failing on any malformed line. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ") || line.startsWith("# UNIT ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?(?:[0-9.e+-]+|NaN|\+?Inf))(?: \d+)?$/.exec(line);
    assert.ok(m, `not Prometheus text: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return samples;
}

function sample(samples: Map<string, number>, name: string, labels: Record<string, string>): number | undefined {
  for (const [key, v] of samples) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${val}"`))) return v;
  }
  return undefined;
}

describe("observability", () => {
  test("a 3-hop fallback exports a span tree over OTLP/HTTP protobuf, parented by the caller's traceparent and propagated upstream", async () => {
    const receiver = await startOtlpReceiver();
    const fake = await startOpenAIFake();
    fake.setDefault({ kind: "text", text: "third time lucky" });
    const p = await spawnGateway({
      yaml: `auto_providers: false
breaker: { disabled: true }
providers:
  - name: sim
    simulated: { models: [{ name: a, faults: [{ kind: unavailable, rate: 1 }] }, { name: b, faults: [{ kind: rate_limit, rate: 1, retry_after: 1s }] }] }
  - name: oai
    openai: { base_url: "${fake.url}/v1" }
routes:
  - name: r
    targets: [{ model: sim/a }, { model: sim/b }, { model: oai/gpt-4o-mini }]
`,
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", OTEL_SERVICE_NAME: "detour-test", OTEL_METRICS_EXPORTER: "none" },
    });
    const { child, url } = p;
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: `00-${callerTrace}-${callerSpan}-01` },
      body: JSON.stringify({ model: "r", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(res.status, 200);
    child.kill("SIGTERM");
    await p.exit;
    await receiver.waitFor(4);

    const root = receiver.spans.find((s) => s.name === "chat r");
    assert.ok(root, "the request span was exported (flushed on shutdown)");
    assert.equal(root.traceId, callerTrace);
    assert.equal(root.parentSpanId, callerSpan);
    const hops = receiver.spans.filter((s) => s.parentSpanId === root.spanId).sort((x, y) => Number(x.attributes["detour.hop.index"]) - Number(y.attributes["detour.hop.index"]));
    assert.deepEqual(
      hops.map((h) => [h.kind, h.attributes["gen_ai.request.model"], h.attributes["detour.decision"], h.attributes["error.type"] ?? ""]),
      [
        [3, "a", "fallback", "UPSTREAM_UNAVAILABLE"],
        [3, "b", "fallback", "RATE_LIMITED"],
        [3, "gpt-4o-mini", "return", ""],
      ],
    );
    assert.equal(hops[2]?.attributes["gen_ai.provider.name"], "openai");
    const sent = String(fake.requests.at(-1)?.headers["traceparent"] ?? "");
    assert.equal(sent, `00-${callerTrace}-${hops[2]?.spanId}-01`, "the upstream call carries the attempt's trace context");
    await fake.close();
    await receiver.close();
  });

  test("a collector that takes connections but never answers does not hold up shutdown", async () => {
    const sink = createServer((s) => s.on("data", () => undefined));
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
    const p = await spawnGateway({ env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}` } });
    try {
      const res = await fetch(`${p.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "sim/steady", messages: [{ role: "user", content: "x" }] }) });
      assert.equal(res.status, 200);
      const started = performance.now();
      p.child.kill("SIGTERM");
      const warned = p.line(/telemetry did not flush within 3 s/);
      assert.equal(await p.exit, 0);
      const ms = performance.now() - started;
      // OTLP's own export timeout is 10 s; the exit waits for the flush at most 3 s.
      assert.ok(ms < 8000, `exit took ${ms.toFixed(0)} ms`);
      assert.match(await warned, /"level":40/);
    } finally {
      p.child.kill("SIGKILL");
      sink.close();
    }
  });

  test("without an OTLP endpoint the caller's traceparent and baggage still reach the upstream, and none is invented", async () => {
    const fake = await startOpenAIFake();
    fake.setDefault({ kind: "text", text: "hi" });
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("OTEL_")) delete env[k];
    const p = await spawnGateway({
      yaml: `auto_providers: false
providers:
  - { name: oai, openai: { base_url: "${fake.url}/v1" } }
routes:
  - { name: r, targets: [{ model: oai/gpt-4o-mini }] }
`,
      env,
    });
    try {
      const send = (headers: Record<string, string>) =>
        fetch(`${p.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ model: "r", messages: [{ role: "user", content: "hi" }] }) });
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      assert.equal((await send({ traceparent, baggage: "tenant=acme" })).status, 200);
      const sent = fake.requests.at(-1)?.headers;
      assert.equal(sent?.["traceparent"], traceparent, "no spans of its own: the caller's context goes on as it came");
      assert.equal(sent?.["baggage"], "tenant=acme");
      assert.equal((await send({ baggage: "tenant=acme" })).status, 200);
      assert.equal(fake.requests.at(-1)?.headers["baggage"], "tenant=acme", "baggage alone is propagated too");
      assert.equal((await send({})).status, 200);
      assert.equal(fake.requests.at(-1)?.headers["traceparent"], undefined);
      assert.equal(fake.requests.at(-1)?.headers["baggage"], undefined);
    } finally {
      p.child.kill("SIGTERM");
      await p.exit;
      await fake.close();
    }
  });

  test("metrics after a scripted run, served as valid Prometheus text, and the fallback analytics", async () => {
    const { provider, telemetry } = inProcessMetrics();
    const t = await startApp(SIM_CONFIG, { telemetry });
    for (let i = 0; i < 3; i++) {
      await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "x" }] }) });
    }
    await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "exhausted", messages: [{ role: "user", content: "x" }] }) });
    const res = await fetch(`${t.url}/metrics`);
    assert.equal(res.status, 200);
    const samples = parsePrometheus(await res.text());
    assert.equal(sample(samples, "detour_requests_total", { route: "default", outcome: "ok" }), 3);
    assert.equal(sample(samples, "detour_requests_total", { route: "exhausted", outcome: "RATE_LIMITED" }), 1);
    assert.equal(sample(samples, "detour_fallbacks_total", { route: "default", from: "sim/failing", to: "sim/fast", reason: "UPSTREAM_UNAVAILABLE" }), 3);
    assert.equal(sample(samples, "detour_request_duration_seconds_count", { route: "default" }) ?? sample(samples, "detour_request_duration_count", { route: "default" }), 3);
    assert.ok((sample(samples, "detour_tokens_total", { route: "default", direction: "output" }) ?? 0) > 0);

    const stats = (await (await fetch(`${t.url}/v1/detour/stats?route=default`)).json()) as {
      routes: { route: string; requests: string; savedByFallback: string; targets: { target: { model: string }; served?: string; saved?: string; failed?: string }[]; failuresByReason: Record<string, string> }[];
    };
    const def = stats.routes[0];
    assert.equal(def?.route, "default");
    assert.equal(def?.requests, "3");
    assert.equal(def?.savedByFallback, "3");
    assert.equal(def?.targets.find((x) => x.target.model === "fast")?.saved, "3");
    assert.equal(def?.targets.find((x) => x.target.model === "failing")?.failed, "3");
    assert.equal(def?.failuresByReason["UPSTREAM_UNAVAILABLE"], "3");
    await t.close();
    await provider.shutdown();
  });

  test("canary: an API key and prompt text never reach logs, spans, metrics or errors", async () => {
    const key = "sk-canary-7f3a9c2e1b4d5f6a8b9c0d1e2f3a4b5c";
    const prompt = "my-secret-prompt-canary-51c9";
    const fake = await startOpenAIFake();
    fake.setDefault({ kind: "error", status: 401, code: "invalid_api_key", message: `Incorrect API key provided: ${key}` });
    process.env["CANARY_KEY"] = key;
    const lines: string[] = [];
    const logger = createLogger("trace", new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
    const spans = new InMemorySpanExporter();
    const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }).getTracer("t");
    const { provider, telemetry } = inProcessMetrics();
    const t = await startApp(
      `auto_providers: false
breaker: { disabled: true }
providers:
  - name: leaky
    openai: { base_url: "${fake.url}/v1", api_key: { env: CANARY_KEY } }
routes: [{ name: r, targets: [{ model: leaky/gpt-4o-mini }] }]
`,
      { logger, tracer, telemetry },
    );
    const body = await (await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "r", messages: [{ role: "user", content: prompt }] }) })).text();
    const grpcErr = await (await fetch(`${t.url}/detour.v1.GatewayService/Complete`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "r", messages: [{ role: "ROLE_USER", content: [{ text: prompt }] }] }) })).text();
    const metricsText = await (await fetch(`${t.url}/metrics`)).text();
    assert.equal(fake.requests.at(-1)?.headers["authorization"], `Bearer ${key}`, "the key did reach the upstream");
    const everywhere = { logs: lines.join(""), spans: JSON.stringify(spans.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status])), metrics: metricsText, openaiError: body, connectError: grpcErr };
    for (const [where, text] of Object.entries(everywhere)) {
      assert.ok(text.length > 0, `${where} has content`);
      assert.ok(!text.includes(key) && !text.includes(key.slice(0, 20)), `the key leaked into ${where}`);
      assert.ok(!text.includes(prompt), `the prompt leaked into ${where}`);
    }
    assert.match(body, /refused the gateway's credentials/);
    await t.close();
    await fake.close();
    await provider.shutdown();
    delete process.env["CANARY_KEY"];
  });
});
