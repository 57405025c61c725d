/**
 * GET /metrics, over HTTP/1.1 and h2c alike. With
 * telemetry.metrics_require_admin it needs an admin key's Bearer: metrics
 * name routes, providers and spend, which an operator may not want public.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError, toGatewayError } from "../errors.ts";
import type { Auth } from "./auth.ts";
import type { NodeHandler } from "./listener.ts";

/** What the route needs. */
export interface MetricsRouteDeps {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly auth: Auth;
  /** Read per request, so a reload turns it on or off. */
  readonly requireAdmin: () => boolean;
}

/** Serves the Prometheus text, after the admin check when it is on. */
export function metricsRoute(deps: MetricsRouteDeps): NodeHandler {
  return (req, res) => {
    if (deps.requireAdmin() && deps.auth.enabled) {
      try {
        const v = req.headers["authorization"];
        const p = deps.auth.authenticate(Array.isArray(v) ? v[0] : v);
        if (!p.admin) throw new GatewayError("PERMISSION_DENIED", `key "${p.name}" may not read /metrics: it needs admin: true (telemetry.metrics_require_admin)`);
      } catch (e) {
        const err = toGatewayError(e);
        const text = `${err.message}\n`;
        res.statusCode = err.httpStatus;
        res.setHeader("content-type", "text/plain; charset=utf-8");
        if (err.reason === "UNAUTHENTICATED") res.setHeader("www-authenticate", 'Bearer realm="detour"');
        res.setHeader("content-length", Buffer.byteLength(text));
        res.end(text);
        return;
      }
    }
    // The exporter writes with statusCode, setHeader and end, which HTTP/2's compat response has too.
    deps.handler(req as IncomingMessage, res as ServerResponse);
  };
}
