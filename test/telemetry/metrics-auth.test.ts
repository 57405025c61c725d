import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:http2";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { GatewayKeySchema } from "../../gen/detour/v1/config_pb.js";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { AggregationTemporality, MeterProvider } from "@opentelemetry/sdk-metrics";
import { createHistograms } from "../../src/telemetry/histograms.js";
import { createLogger } from "../../src/telemetry/log.js";
import { SIM_CONFIG, startApp } from "../helpers/app.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

function inProcessMetrics() {
  const histograms = createHistograms();
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [histograms.producer(() => AggregationTemporality.CUMULATIVE)] });
  const provider = new MeterProvider({ readers: [prometheus] });
  return { meter: provider.getMeter("detour"), histograms, metricsHandler: prometheus.getMetricsRequestHandler.bind(prometheus) };
}

/** GET over h2c (prior knowledge), as a gRPC-side scraper would. */
function h2get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    session.on("error", reject);
    const req = session.request({ ":path": path, ...headers });
    let status = 0;
    let body = "";
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.on("error", reject);
    req.end();
  });
}

const CONFIG = `${SIM_CONFIG}
telemetry: { metrics_require_admin: true }
keys:
  - { name: ops, sha256: ${hash("k-ops")}, admin: true }
  - { name: app, sha256: ${hash("k-app")} }
`;

describe("/metrics access and failed authentication", () => {
  test("with metrics_require_admin, /metrics needs an admin key, over HTTP/1.1 and h2c", async () => {
    const t = await startApp(CONFIG, { telemetry: inProcessMetrics() });
    try {
      assert.equal((await fetch(`${t.url}/metrics`)).status, 401);
      const app = await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer k-app" } });
      assert.equal(app.status, 403);
      assert.match(await app.text(), /needs admin: true/);
      const ops = await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer k-ops" } });
      assert.equal(ops.status, 200);
      assert.match(await ops.text(), /# TYPE /);
      assert.equal((await h2get(t.url, "/metrics")).status, 401, "h2c is checked too");
      const h2 = await h2get(t.url, "/metrics", { authorization: "Bearer k-ops" });
      assert.equal(h2.status, 200, "served over h2c");
      assert.match(h2.body, /# TYPE /);
    } finally {
      await t.close();
    }
  });

  test("failed authentication is counted (detour_auth_failures_total) and logged at most once per window, never with the key", async () => {
    const lines: string[] = [];
    const dest = new Writable({ write: (c: Buffer, _e, done) => void (lines.push(c.toString()), done()) });
    const t = await startApp(CONFIG, { telemetry: inProcessMetrics(), logger: createLogger("info", dest) });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${t.url}/v1/models`, { headers: { authorization: "Bearer sk-wrong-secret" } });
        assert.equal(res.status, 401);
      }
      const grpc = await fetch(`${t.url}/detour.v1.AdminService/GetStats`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      assert.equal(grpc.status, 401);
      const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer k-ops" } })).text();
      assert.match(text, /detour_auth_failures_total\{reason="incorrect"[^}]*\} 5/);
      assert.match(text, /detour_auth_failures_total\{reason="missing"[^}]*\} 1/);
      const logged = lines.filter((l) => l.includes("authentication failed"));
      assert.equal(logged.length, 1, "one line in the window; the rest are counted in the next");
      assert.doesNotMatch(lines.join(""), /sk-wrong-secret/);
    } finally {
      await t.close();
    }
  });
});

test("the log window: a line per window, saying how many were held back", async () => {
  const { watchAuthFailures } = await import("../../src/server/auth-failures.js");
  const { createAuth } = await import("../../src/server/auth.js");
  const lines: string[] = [];
  const dest = new Writable({ write: (c: Buffer, _e, done) => void (lines.push(c.toString()), done()) });
  let now = 0;
  const auth = watchAuthFailures(createAuth([create(GatewayKeySchema, { name: "k", sha256: hash("k") })]), { logger: createLogger("info", dest), now: () => now, windowMs: 10_000 });
  for (let i = 0; i < 4; i++) assert.throws(() => auth.authenticate("Bearer nope"));
  now = 10_000;
  assert.throws(() => auth.authenticate(undefined));
  assert.equal(lines.length, 2);
  assert.match(lines[1] ?? "", /"suppressed":3.*missing key\); 3 more since the last line/);
});
