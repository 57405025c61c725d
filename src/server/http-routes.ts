/**
 * The plain-HTTP entry: liveness and readiness, then everything else to the
 * Connect adapter (which serves gRPC, gRPC-Web and Connect, and answers
 * unknown paths with 404).
 */
import type { Http2ServerResponse } from "node:http2";
import type { ServerResponse } from "node:http";
import type { NodeHandler } from "./listener.ts";
import type { HealthState } from "./health.ts";

/** What the HTTP routes need. */
export interface HttpRoutesDeps {
  readonly connect: NodeHandler;
  /** The OpenAI-compatible API; returns false for paths it does not serve. */
  readonly openai: (req: Parameters<NodeHandler>[0], res: Parameters<NodeHandler>[1], path: string) => boolean;
  readonly health: HealthState;
  /** Serves Prometheus metrics at /metrics, when telemetry is on (metrics-route.ts). */
  readonly metrics?: NodeHandler;
  /** The dashboard's page and files; returns false for paths it does not serve. */
  readonly dashboard?: (req: Parameters<NodeHandler>[0], res: Parameters<NodeHandler>[1], path: string) => boolean;
  readonly draining: () => boolean;
  /** Refuses what browsers of other origins, or rebound names, may not do (browser-guard.ts); true when it answered. */
  readonly guard?: (req: Parameters<NodeHandler>[0], res: Parameters<NodeHandler>[1], path: string) => boolean;
}

function json(res: ServerResponse | Http2ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

/** Composes the top-level handler. */
export function httpRoutes(deps: HttpRoutesDeps): NodeHandler {
  return (req, res) => {
    // During drain, HTTP/1.1 connections close after their current call.
    if (deps.draining() && req.httpVersionMajor === 1) res.setHeader("connection", "close");
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (deps.guard?.(req, res, path)) return;
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/healthz") return json(res, 200, { status: "ok" });
      if (path === "/metrics" && deps.metrics) return deps.metrics(req, res);
      if (path === "/readyz") {
        const ready = deps.health.serving() && !deps.draining();
        return json(res, ready ? 200 : 503, { status: ready ? "ready" : "draining" });
      }
    }
    if (path.startsWith("/dashboard") && deps.dashboard?.(req, res, path)) return;
    if (path.startsWith("/v1/") && deps.openai(req, res, path)) return;
    deps.connect(req, res);
  };
}
