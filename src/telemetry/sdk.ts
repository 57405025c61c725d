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
import { metrics, type Meter } from "@opentelemetry/api";
import { OTLPMetricExporter as OTLPGrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPMetricExporter as OTLPProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { PeriodicExportingMetricReader, type IMetricReader } from "@opentelemetry/sdk-metrics";
import { startNodeSdk } from "@opentelemetry/sdk-node";

/** The started telemetry. */
export interface Telemetry {
  readonly meter: Meter;
  /** True when spans are exported. */
  readonly tracing: boolean;
  /** Serves the Prometheus text exposition. */
  readonly metricsHandler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Flushes and stops the exporters. */
  shutdown(): Promise<void>;
}

/** Starts the SDK from `env`. Call once, before the server starts. */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): Telemetry {
  const disabled = env["OTEL_SDK_DISABLED"] === "true";
  const tracesEndpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  const metricsEndpoint = env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  const tracing = !disabled && Boolean(tracesEndpoint) && env["OTEL_TRACES_EXPORTER"] !== "none";
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  if (!disabled && metricsEndpoint && env["OTEL_METRICS_EXPORTER"] !== "none") {
    const protocol = env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] || env["OTEL_EXPORTER_OTLP_PROTOCOL"] || "http/protobuf";
    const exporter = protocol === "grpc" ? new OTLPGrpcMetricExporter() : new OTLPProtoMetricExporter();
    readers.push(new PeriodicExportingMetricReader({ exporter }));
  }
  const sdk = startNodeSdk({
    resourceAttributes: { "service.name": env["OTEL_SERVICE_NAME"] || "detour" },
    metricReaders: readers,
    // No endpoint: no tracer provider at all, so spans are no-ops.
    ...(tracing ? {} : { spanProcessors: [] }),
    logRecordProcessors: [],
    instrumentations: [],
  });
  return {
    meter: metrics.getMeter("detour"),
    tracing,
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: () => sdk.shutdown(),
  };
}
