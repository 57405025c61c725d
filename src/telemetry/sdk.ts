/**
 * The one place the OpenTelemetry SDK is wired, once, at startup, from the
 * standard environment variables (OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, …).
 * Traces go over OTLP (http/protobuf, http/json or grpc) only when an
 * endpoint is set; without one no tracer provider exists and tracing costs
 * nothing. Metrics always feed the Prometheus endpoint (/metrics on the
 * gateway's port) and, with an endpoint, OTLP too. W3C trace context and
 * baggage are the propagators unless OTEL_PROPAGATORS says otherwise.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { context, metrics, propagation, type Meter, type TextMapPropagator } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, InstrumentType, MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from "@opentelemetry/sdk-metrics";
import { createHistograms, type Histograms } from "./histograms.ts";

/** The started telemetry. */
export interface Telemetry {
  readonly meter: Meter;
  /** The histograms, aggregated in-process and read by every metric reader. */
  readonly histograms: Histograms;
  /** True when spans are exported. */
  readonly tracing: boolean;
  /** Serves the Prometheus text exposition. */
  readonly metricsHandler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Flushes and stops the exporters. */
  shutdown(): Promise<void>;
}

/** The propagators the lean path can build itself; anything else (b3, jaeger, …) needs the full SDK. */
const LEAN_PROPAGATORS = new Set(["tracecontext", "baggage", "none"]);

/**
 * Starts the SDK from `env`. Call once, before the server starts.
 *
 * Without an OTLP endpoint the full Node SDK (exporters, gRPC, protobufjs:
 * ~75 MB of resident memory) is never loaded: a meter provider feeds the
 * Prometheus endpoint, and the context manager and W3C propagators still carry
 * a caller's traceparent to the upstream call. With an endpoint the SDK is
 * imported on demand and configured from the same environment variables.
 */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  const disabled = env["OTEL_SDK_DISABLED"] === "true";
  const tracesEndpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  const metricsEndpoint = env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  const tracing = !disabled && Boolean(tracesEndpoint) && env["OTEL_TRACES_EXPORTER"] !== "none";
  const propagatorNames = (env["OTEL_PROPAGATORS"] || "tracecontext,baggage").split(",").map((n) => n.trim()).filter(Boolean);
  const histograms = createHistograms();
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: [histograms.producer(() => AggregationTemporality.CUMULATIVE)] });
  const readers: IMetricReader[] = [prometheus];
  if (!disabled && metricsEndpoint && env["OTEL_METRICS_EXPORTER"] !== "none") {
    const protocol = env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] || env["OTEL_EXPORTER_OTLP_PROTOCOL"] || "http/protobuf";
    const exporter =
      protocol === "grpc"
        ? new (await import("@opentelemetry/exporter-metrics-otlp-grpc")).OTLPMetricExporter()
        : new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter();
    const temporality = () => exporter.selectAggregationTemporality?.(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE;
    readers.push(new PeriodicExportingMetricReader({ exporter, metricProducers: [histograms.producer(temporality)] }));
  }
  const serviceName = env["OTEL_SERVICE_NAME"] || "detour";
  const handler = (req: IncomingMessage, res: ServerResponse) => prometheus.getMetricsRequestHandler(req, res);
  if (tracing || !propagatorNames.every((n) => LEAN_PROPAGATORS.has(n))) {
    const { startNodeSdk } = await import("@opentelemetry/sdk-node");
    const sdk = startNodeSdk({
      resourceAttributes: { "service.name": serviceName },
      metricReaders: readers,
      // No endpoint: no tracer provider at all, so spans are no-ops.
      ...(tracing ? {} : { spanProcessors: [] }),
      logRecordProcessors: [],
      instrumentations: [],
    });
    return { meter: metrics.getMeter("detour"), histograms, tracing, metricsHandler: handler, shutdown: () => sdk.shutdown() };
  }
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const propagators: TextMapPropagator[] = [];
  if (propagatorNames.includes("tracecontext")) propagators.push(new W3CTraceContextPropagator());
  if (propagatorNames.includes("baggage")) propagators.push(new W3CBaggagePropagator());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators }));
  const provider = new MeterProvider({ resource: resourceFromAttributes({ "service.name": serviceName }), readers });
  metrics.setGlobalMeterProvider(provider);
  return {
    meter: metrics.getMeter("detour"),
    histograms,
    tracing: false,
    metricsHandler: handler,
    shutdown: async () => {
      await provider.shutdown();
      contextManager.disable();
    },
  };
}
