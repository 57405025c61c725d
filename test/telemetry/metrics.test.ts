import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from "@opentelemetry/sdk-metrics";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { AttemptOutcome, AttemptSchema } from "../../gen/detour/v1/result_pb.js";
import { createBreakers } from "../../src/breakers/breakers.js";
import type { RequestRecord } from "../../src/gateway/observer.js";
import { newUsage } from "../../src/literals.js";
import { createHistograms } from "../../src/telemetry/histograms.js";
import { metricsObserver } from "../../src/telemetry/metrics.js";

function record(route: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: "cmpl-1",
    route,
    model: route,
    streaming: false,
    outcome: "ok",
    message: "",
    attempts: [],
    servedBy: { $typeName: "detour.v1.TargetRef", provider: "p", model: "m" },
    usage: newUsage({ inputTokens: 3, outputTokens: 5 }),
    answerUsd: 0.25,
    wastedUsd: 0,
    latencyMs: 12,
    endedAt: 0,
    traceId: "",
    spanId: "",
    ...over,
  };
}

async function collect(temporality: AggregationTemporality) {
  const exporter = new InMemoryMetricExporter(temporality);
  const histograms = createHistograms();
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000, metricProducers: [histograms.producer(() => temporality)] });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter("detour");
  const observer = metricsObserver(meter, histograms, () => createBreakers(undefined));
  const read = async (): Promise<Map<string, MetricData>> => {
    await reader.forceFlush();
    const last = exporter.getMetrics().at(-1);
    exporter.reset();
    return new Map((last?.scopeMetrics ?? []).flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
  };
  return { observer, meter, histograms, read, close: () => provider.shutdown() };
}

const points = (m: MetricData | undefined) => (m?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value }));

describe("metrics", () => {
  test("counters are monotonic sums per attribute set, cumulative or delta as the exporter asks", async () => {
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const m = await collect(temporality);
      m.observer.onRequest(record("a"));
      m.observer.onRequest(record("a"));
      m.observer.onRequest(record("b", { outcome: "RATE_LIMITED", usage: undefined, answerUsd: 0, wastedUsd: 0.5 }));
      m.observer.onReplay?.("a");
      const first = await m.read();
      const requests = first.get("detour.requests");
      assert.equal(requests?.dataPointType, DataPointType.SUM);
      assert.equal((requests as { isMonotonic?: boolean }).isMonotonic, true);
      assert.deepEqual(points(requests), [
        { attributes: { route: "a", outcome: "ok" }, value: 2 },
        { attributes: { route: "b", outcome: "RATE_LIMITED" }, value: 1 },
      ]);
      assert.deepEqual(points(first.get("detour.tokens")), [
        { attributes: { route: "a", provider: "p", direction: "input" }, value: 6 },
        { attributes: { route: "a", provider: "p", direction: "output" }, value: 10 },
      ]);
      assert.deepEqual(points(first.get("detour.cost")), [
        { attributes: { route: "a", provider: "p", kind: "answer" }, value: 0.5 },
        { attributes: { route: "b", kind: "wasted" }, value: 0.5 },
      ]);
      assert.deepEqual(points(first.get("detour.idempotent.replays")), [{ attributes: { route: "a" }, value: 1 }]);

      m.observer.onRequest(record("a"));
      const second = await m.read();
      const a = points(second.get("detour.requests")).find((p) => p.attributes["route"] === "a");
      assert.equal(a?.value, temporality === AggregationTemporality.CUMULATIVE ? 3 : 1);
      await m.close();
    }
  });

  test("histograms match the SDK's own, point for point, cumulative and delta, over two collections", async () => {
    const bounds = [0.005, 0.01, 0.1, 1, 10];
    const values = [[0, 0.005, 0.0051, 0.5, 1, 12, 3], [0.01, 0.2, 0.2, 99]];
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const m = await collect(temporality);
      const sdk = m.meter.createHistogram("sdk", { unit: "s", description: "d", advice: { explicitBucketBoundaries: bounds } });
      const ours = m.histograms.histogram("ours", { unit: "s", description: "d", boundaries: bounds });
      for (const batch of values) {
        for (const [i, v] of batch.entries()) {
          const attributes = { route: i % 2 ? "a" : "b" };
          sdk.record(v, attributes);
          ours(attributes.route, v, () => attributes);
        }
        const read = await m.read();
        const [a, b] = [read.get("sdk"), read.get("ours")];
        assert.equal(b?.dataPointType, DataPointType.HISTOGRAM);
        assert.equal(b?.aggregationTemporality, temporality);
        assert.deepEqual({ ...b?.descriptor, name: "" }, { ...a?.descriptor, name: "" });
        const shape = (d: MetricData | undefined) =>
          (d?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value })).sort((x, y) => String(x.attributes["route"]).localeCompare(String(y.attributes["route"])));
        assert.deepEqual(shape(b), shape(a));
      }
      await m.close();
    }
  });

  test("a histogram past 2,000 series records into its overflow series", async () => {
    const m = await collect(AggregationTemporality.CUMULATIVE);
    const h = m.histograms.histogram("h", { unit: "s", description: "d", boundaries: [1] });
    for (let i = 0; i < 2_100; i++) h(`r${i}`, 2, () => ({ route: `r${i}` }));
    const points = (await m.read()).get("h")?.dataPoints ?? [];
    assert.equal(points.length, 2_000);
    assert.deepEqual(points.find((p) => p.attributes["otel.metric.overflow"] === true)?.value, { buckets: { boundaries: [1], counts: [0, 101] }, sum: 202, count: 101, min: 2, max: 2 });
    await m.close();
  });

  test("past the SDK's 2,000 series a counter adds to its one overflow series instead of growing", async () => {
    const m = await collect(AggregationTemporality.CUMULATIVE);
    for (let i = 0; i < 2_100; i++) m.observer.onRequest(record(`r${i}`, { usage: undefined, answerUsd: 0 }));
    m.observer.onRequest(record("r0", { usage: undefined, answerUsd: 0 }));
    const requests = points((await m.read()).get("detour.requests"));
    assert.equal(requests.length, 2_000);
    assert.equal(requests.find((p) => p.attributes["otel.metric.overflow"] === true)?.value, 101);
    assert.equal(requests.find((p) => p.attributes["route"] === "r0")?.value, 2, "an existing series still counts");
    await m.close();
  });
});

describe("metric labels from names callers choose", () => {
  test("3,000 distinct models add at most 1,024 attempt series; the rest share model=\"other\"", async () => {
    const m = await collect(AggregationTemporality.CUMULATIVE);
    for (let i = 0; i < 3_000; i++) {
      const attempt = create(AttemptSchema, { target: { provider: "p", model: `ft-${i}` }, outcome: AttemptOutcome.SUCCEEDED, latency: durationFromMs(5) });
      m.observer.onRequest(record("", { attempts: [attempt] }));
    }
    const series = points((await m.read()).get("detour.attempt.duration"));
    assert.ok(series.length <= 1_025, `${series.length} series`);
    assert.ok(series.some((p) => p.attributes["model"] === "other"));
    await m.close();
  });
});
