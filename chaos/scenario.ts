/**
 * What the chaos suite runs: the gateway config in front of the fault
 * upstream (three models chained by routes with each commit policy), the
 * fault phases cycled under load, and the run's time plan for a duration.
 */
import type { Phase } from "./fault-upstream.ts";

/** The gateway's deadline for every chaos request. */
export const DEADLINE_MS = 4_000;

/** How long a broken breaker waits before its probe. */
export const RESET_TIMEOUT_MS = 1_000;

/** The models of the fault upstream, in chain order. */
export const MODELS = ["primary", "secondary", "backup"] as const;

/** What the load spreads over: the routes, and each model called directly. */
export const TARGETS = ["chat", "chat-restart", "chat-strict", ...MODELS.map((m) => `chaos/${m}`)];

/**
 * The config. Targets give up on a silent start (ttft_timeout) and a stalled
 * stream (inter_token_timeout); breakers trip fast and probe after a second.
 * Idempotency records outlive the run, so no repeat finds its key evicted.
 */
export function chaosConfig(baseUrl: string, logLevel = "silent"): string {
  const chain = MODELS.map((m, i) =>
    `{ model: chaos/${m}, ttft_timeout: 600ms, inter_token_timeout: 400ms${i < MODELS.length - 1 ? ", retries: 1" : ""} }`,
  ).join(", ");
  const route = (name: string, extra: string) => `  - { name: ${name}, deadline: ${DEADLINE_MS}ms, min_slice: 500ms, backoff: { base: 50ms, max: 200ms }${extra}, targets: [${chain}] }`;
  return `auto_providers: false
telemetry: { log_level: ${logLevel} }
server: { default_deadline: ${DEADLINE_MS}ms, drain_timeout: 15s }
breaker: { window: 2s, volume_threshold: 8, error_threshold_percent: 50, reset_timeout: ${RESET_TIMEOUT_MS}ms }
idempotency: { ttl: 10m }
providers:
  - name: chaos
    openai: { base_url: "${baseUrl}" }
routes:
${route("chat", "")}
${route("chat-restart", ", commit_policy: restart, commit_buffer: { tokens: 2 }")}
${route("chat-strict", ", commit_policy: fail")}
`;
}

const both = (primary: Phase["models"][string], secondary: Phase["models"][string]): Phase["models"] => ({ primary, secondary });

/** Every fault at once, on every model, at low rates. */
const MIXED: Phase = {
  name: "mixed",
  models: Object.fromEntries(
    MODELS.map((m) => [m, { unavailable: 0.06, rate_limit: 0.06, reset_before_headers: 0.04, reset_after_headers: 0.04, hang: 0.04, drop_mid_stream: 0.06, malformed: 0.05, slow_loris: 0.04 }]),
  ),
};

/** The fault phases, in order; the backup model stays healthy until "mixed". */
export const FAULT_PHASES: readonly Phase[] = [
  { name: "503 burst", models: both({ unavailable: 1 }, { unavailable: 0.3 }) },
  { name: "429 storm", models: both({ rate_limit: 0.9 }, { rate_limit: 0.5 }) },
  { name: "connection resets", models: both({ reset_before_headers: 0.3, reset_after_headers: 0.3 }, { reset_before_headers: 0.2, reset_after_headers: 0.2 }) },
  { name: "hangs", models: both({ hang: 0.5 }, { hang: 0.3 }) },
  { name: "mid-stream drops", models: both({ drop_mid_stream: 0.6 }, { drop_mid_stream: 0.4 }) },
  { name: "malformed bodies", models: both({ malformed: 0.6 }, { malformed: 0.4 }) },
  { name: "slow loris", models: both({ slow_loris: 0.5 }, { slow_loris: 0.3 }) },
  MIXED,
];

/** A run's time plan. */
export interface TimePlan {
  readonly warmupMs: number;
  readonly phaseMs: number;
  /** Healthy load at the end, long enough for open breakers to probe and close. */
  readonly recoveryMs: number;
}

/** Splits `durationMs` of load into warm-up, the fault phases and recovery. */
export function timePlan(durationMs: number): TimePlan {
  const warmupMs = Math.max(500, Math.round(durationMs * 0.08));
  const recoveryMs = Math.max(2 * RESET_TIMEOUT_MS + 500, Math.round(durationMs * 0.12));
  const phaseMs = Math.max(400, Math.round((durationMs - warmupMs - recoveryMs) / FAULT_PHASES.length));
  return { warmupMs, phaseMs, recoveryMs };
}
