/**
 * Caps the deadline a caller asks for (gRPC `grpc-timeout`, Connect
 * `connect-timeout-ms`) at the server's max_deadline, before the Connect
 * adapter reads it. Connect arms a setTimeout with the caller's value, and
 * one past 2^31 ms fires at once: a 30-day deadline would cancel the call
 * instantly. Connect's own maxTimeoutMs refuses such calls instead; a
 * caller asking for more time than allowed gets the most allowed.
 */
import type { NodeHandler } from "./listener.ts";

const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Wraps a handler so deadline headers above `maxMs` are cut to it. */
export function capDeadlines(handler: NodeHandler, maxMs: number): NodeHandler {
  return (req, res) => {
    const grpc = req.headers["grpc-timeout"];
    if (typeof grpc === "string") {
      const m = GRPC_TIMEOUT.exec(grpc);
      if (m && Number(m[1]) * (GRPC_UNIT_MS[m[2] as string] ?? 0) > maxMs) req.headers["grpc-timeout"] = grpcTimeout(maxMs);
    }
    const connect = req.headers["connect-timeout-ms"];
    if (typeof connect === "string" && /^\d{1,10}$/.test(connect) && Number(connect) > maxMs) {
      req.headers["connect-timeout-ms"] = String(Math.floor(maxMs));
    }
    handler(req, res);
  };
}

/** `ms` as a grpc-timeout value: at most 8 digits, in the finest unit that fits. */
function grpcTimeout(ms: number): string {
  for (const [unit, per] of [["m", 1], ["S", 1000], ["M", 60_000], ["H", 3_600_000]] as const) {
    const n = Math.floor(ms / per);
    if (n <= 99_999_999) return `${n}${unit}`;
  }
  return "99999999H";
}
