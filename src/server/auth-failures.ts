/**
 * Failed authentication, seen: each one is counted (detour.auth.failures,
 * by transport-free reason) and logged at most once per window with the
 * number held back, so a flood of bad keys cannot flood the logs. The key
 * itself is never logged; only that one was missing or wrong.
 */
import type { Meter } from "@opentelemetry/api";
import { isGatewayError } from "../errors.ts";
import type { Logger } from "../telemetry/log.ts";
import type { Auth } from "./auth.ts";

/** What the watch needs. */
export interface AuthFailureDeps {
  readonly logger: Logger;
  readonly meter?: Meter;
  /** Milliseconds, for the log window. Default Date.now. */
  readonly now?: () => number;
  /** At most one log line per this many milliseconds. Default 10 s. */
  readonly windowMs?: number;
}

/** Wraps `auth` so that every UNAUTHENTICATED it throws is counted and (rate-limited) logged. */
export function watchAuthFailures<A extends Auth>(auth: A, deps: AuthFailureDeps): A {
  const now = deps.now ?? Date.now;
  const windowMs = deps.windowMs ?? 10_000;
  const counter = deps.meter?.createCounter("detour.auth.failures", { description: "Requests refused for a missing or wrong gateway key" });
  let lastLog = -Infinity;
  let held = 0;
  const failed = (reason: "missing" | "incorrect") => {
    counter?.add(1, { reason });
    const t = now();
    if (t - lastLog < windowMs) {
      held++;
      return;
    }
    deps.logger.warn({ reason, suppressed: held }, `authentication failed (${reason} key)${held ? `; ${held} more since the last line` : ""}`);
    lastLog = t;
    held = 0;
  };
  return new Proxy(auth, {
    get(target, prop, receiver) {
      if (prop !== "authenticate") return Reflect.get(target, prop, receiver) as unknown;
      return (authorization: string | null | undefined) => {
        try {
          return target.authenticate(authorization);
        } catch (e) {
          if (isGatewayError(e) && e.reason === "UNAUTHENTICATED") failed(/^missing/.test(e.message) ? "missing" : "incorrect");
          throw e;
        }
      };
    },
  });
}
