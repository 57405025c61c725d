/**
 * What browsers may do. A page on another origin can send requests to any
 * address its visitor reaches (the gateway on their laptop or intranet);
 * such requests carry an Origin header, and are refused unless that origin
 * is in server.cors.allowed_origins, which also answers CORS preflights for
 * it. And an open gateway (no keys, loopback only) answers only to loopback
 * names in the Host header: a DNS-rebinding page, whose name resolves to
 * 127.0.0.1, sends its own name there and cannot read the admin API.
 */
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { GatewayError } from "../errors.ts";
import { toOpenAIError } from "../errors-openai.ts";
import type { NodeHandler } from "./listener.ts";

type Req = Parameters<NodeHandler>[0];
type Res = Parameters<NodeHandler>[1];

/** What the guard reads per request (a reload changes it). */
export interface BrowserGuardOptions {
  /** server.cors.allowed_origins: exact origins, or "*". */
  readonly allowedOrigins: () => readonly string[];
  /** True while only loopback names may be in the Host header (no keys, no server.open_public). */
  readonly loopbackOnly: () => boolean;
  /** The port the listener is bound to, once it listens. */
  readonly port: () => number | undefined;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Response headers a permitted page may read: the gateway's own, and Connect's and gRPC-Web's. */
const EXPOSED = "x-request-id, x-detour-provider, x-detour-model, x-detour-attempts, x-detour-cost-usd, x-detour-replayed, retry-after, grpc-status, grpc-message, grpc-status-details-bin";

/** A header list as a preflight may name it: tokens and commas only. */
const HEADER_LIST = /^[\w!#$%&'*+.^`|~-]+(?:\s*,\s*[\w!#$%&'*+.^`|~-]+)*$/;

function one(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The Host header, or HTTP/2's :authority. */
function authority(req: Req): string | undefined {
  return one(req, "host") ?? one(req, ":authority");
}

/** "name:port" → [name, port]; the port is undefined when absent (the name is what rebinding changes). */
function splitHost(host: string): [string, number | undefined] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host.toLowerCase());
  return m ? [m[1] as string, m[2] === undefined ? undefined : Number(m[2])] : [host, NaN];
}

/** Writes a refusal the way the caller's API reports errors. */
function refuse(res: Res, path: string, err: GatewayError): void {
  const body = path.startsWith("/v1/") ? toOpenAIError(err).body : { code: codeToString(err.code), message: err.message };
  const text = JSON.stringify(body);
  res.statusCode = err.httpStatus;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

/** Returns a check that answers (and returns true for) refused requests and CORS preflights. */
export function browserGuard(o: BrowserGuardOptions): (req: Req, res: Res, path: string) => boolean {
  return (req, res, path) => {
    const host = authority(req);
    if (host !== undefined && o.loopbackOnly()) {
      const [name, port] = splitHost(host);
      const bound = o.port();
      if (!LOOPBACK_NAMES.has(name) || (bound !== undefined && port !== undefined && port !== bound)) {
        refuse(res, path, new GatewayError("MISDIRECTED_REQUEST", `host: ${JSON.stringify(host.slice(0, 100))} is not this gateway's address; without keys it answers only to localhost, 127.0.0.1 and [::1]${bound === undefined ? "" : ` on port ${bound}`} (which stops DNS rebinding): add keys, or set server.open_public: true`, { field: "host" }));
        return true;
      }
    }
    const origin = one(req, "origin");
    if (origin === undefined) return false;
    // Same origin: the page the gateway served itself (the dashboard).
    if (host !== undefined && origin.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").toLowerCase() === host.toLowerCase()) return false;
    const allowed = o.allowedOrigins();
    if (!allowed.includes(origin) && !allowed.includes("*")) {
      refuse(res, path, new GatewayError("ORIGIN_NOT_ALLOWED", `origin: ${JSON.stringify(origin.slice(0, 100))} may not call this gateway from a browser; add it to server.cors.allowed_origins to allow it`, { field: "origin" }));
      return true;
    }
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
    if (req.method === "OPTIONS" && one(req, "access-control-request-method") !== undefined) {
      const asked = one(req, "access-control-request-headers")?.trim() ?? "";
      res.statusCode = 204;
      res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
      if (HEADER_LIST.test(asked)) res.setHeader("access-control-allow-headers", asked);
      res.setHeader("access-control-max-age", "600");
      res.end();
      return true;
    }
    res.setHeader("access-control-expose-headers", EXPOSED);
    return false;
  };
}
