/**
 * Structured JSON logs. One logger is created at startup and passed down;
 * nothing logs prompt text or keys.
 */
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Creates the process logger; `dest` lets tests capture lines. */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  const options = {
    level: level || "info",
    base: { service: "detour" },
    redact: { paths: ["*.authorization", "*.apiKey", "*.api_key", "*.key"], censor: "[redacted]" },
  };
  return dest ? pino(options, dest) : pino(options);
}
