/**
 * The benchmark's fixed parts: Detour's configs for the run, the rows of the
 * table with their targets, and the markdown rendering.
 */

/** Figures per column. */
export type Results = Record<string, Record<string, number | string>>;

/** Detour's config on the mock: one route per scenario, breakers on or off. */
export function detourConfig(upstream: string, breakers: boolean): string {
  return `auto_providers: false
telemetry: { log_level: warn }
breaker: ${breakers ? "{ volume_threshold: 5, reset_timeout: 10m }" : "{ disabled: true }"}
providers:
  - { name: mock, openai: { base_url: "${upstream}/v1", stream_usage: false }, upstream: { max_connections: 4096 } }
  - { name: bad, openai: { base_url: "${upstream}/v1", stream_usage: false } }
routes:
  - { name: ok, targets: [{ model: mock/ok }] }
  - { name: drip, targets: [{ model: mock/drip }] }
  - { name: long, targets: [{ model: mock/long }] }
  - { name: fail-503, targets: [{ model: mock/fail-503 }, { model: mock/ok }] }
  - { name: fail-429, targets: [{ model: mock/fail-429 }, { model: mock/ok }] }
  - { name: hang, targets: [{ model: mock/hang, ttft_timeout: 100ms }, { model: mock/ok }] }
  - { name: cut, commit_policy: fail, targets: [{ model: mock/cut }] }
  - { name: open-breaker, targets: [{ model: bad/fail-503 }, { model: mock/ok }] }
`;
}

/** A row: label, key in the results, and the target for Detour (shown in the last column). */
export const ROWS: readonly (readonly [string, string, string])[] = [
  ["added latency p50, sequential (ms)", "added_p50_ms", "≤ 0.45"],
  ["added latency p99, sequential (ms)", "added_p99_ms", ""],
  // The 0.45 ms stood against its floor's 0.34: 1.32×.
  ["added latency p50, sequential, as a multiple of the floor's, same rotation", "floor_p50_ratio", "≤ 1.32"],
  // A request at a time runs colder than under load: several times the CPU,
  // and the difference between two gateways' latencies follows it.
  ["gateway CPU per request, sequential (µs)", "seq_cpu_us_per_req", ""],
  ["added latency p50 at 500 req/s (ms)", "added_rate_p50_ms", "≤ 0.45"],
  ["added latency p99 at 500 req/s (ms)", "added_rate_p99_ms", "≤ 3"],
  ["throughput, 50 connections (req/s)", "rps", "≥ 6,000"],
  ["throughput as a share of the floor's, same rounds (%)", "floor_share_pct", "≥ 60"],
  ["gateway CPU per request (µs)", "cpu_us_per_req", "≤ 160"],
  // The 160 µs stood against its machine's floor of 111 µs: 1.44×.
  ["CPU per request as a multiple of the floor's, same rounds", "floor_cpu_ratio", "≤ 1.44"],
  ["streamed completions per second, 50 connections", "streams_per_s", ""],
  // What a long answer costs: 50 streams of 200 tokens 1 ms apart, each token its own read and write.
  ["gateway CPU per streamed token, 200 tokens 1 ms apart (µs)", "cpu_us_per_token", ""],
  ["CPU per streamed token as a multiple of the floor's, same rounds", "floor_token_cpu_ratio", ""],
  ["added TTFT p50, streamed (ms)", "added_ttft_ms", "≤ 0.6"],
  // The 0.6 ms stood against its floor's 0.44: 1.36×.
  ["added TTFT p50 as a multiple of the floor's, same rotation", "floor_ttft_ratio", "≤ 1.36"],
  ["memory per open stream, 1,000 slow streams (KB)", "kb_per_stream", "≤ 40"],
  ["RSS idle (MB)", "rss_idle_mb", "≤ 60"],
  ["RSS peak (MB)", "rss_peak_mb", "≤ 120"],
  ["failover beyond healthy, 503 (ms)", "failover_fail-503_ms", "≤ 0.5"],
  ["failover beyond healthy, 429 (ms)", "failover_fail-429_ms", "≤ 0.5"],
  // A hang leaves every process on the path idle for the threshold: the
  // healthy answer it is set against comes after the same pause (measure.ts).
  ["failover beyond healthy, hang, beyond its 100 ms threshold (ms)", "failover_hang_over_ms", "≤ 0.5"],
  ["the same against a healthy answer sent with no pause before it (ms)", "failover_hang_warm_over_ms", ""],
  ["open-breaker skip (ms)", "breaker_skip_ms", "≤ 0.1"],
  ["requests that failed during the run", "failed", "0"],
  ["what a client sees when the upstream cuts a stream", "cut_stream", "never silent"],
];

function fmt(v: number | string | undefined): string {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
}

/** The markdown table, with the run's facts under it. */
export function table(results: Results, rows: typeof ROWS, facts: { machine: string; date: string; connections: number; rate: number; streams: number }): string {
  const d = results["direct"] ?? {};
  const p = results["portkey"];
  return [
    "| metric | floor proxy | Portkey 1.15.2 | Detour | Detour target |",
    "| --- | --: | --: | --: | --: |",
    ...rows.map(([label, key, target]) => `| ${label} | ${fmt(results["floor"]?.[key])} | ${fmt(results["portkey"]?.[key])} | ${fmt(results["detour"]?.[key])} | ${target} |`),
    "",
    `Direct to the mock (the baseline the "added" rows subtract): p50 ${fmt(d["p50_ms"])} ms, p99 ${fmt(d["p99_ms"])} ms, TTFT p50 ${fmt(d["ttft_p50_ms"])} ms, ${fmt(d["rps"])} req/s at ${facts.connections} connections.`,
    ...(p && p["base_p50_ms"] !== undefined
      ? [`Portkey's sequential rows take turns with the baseline alone (its ~27 ms first token would idle the fast columns between their requests) and subtract that rotation's: p50 ${fmt(p["base_p50_ms"])} ms, p99 ${fmt(p["base_p99_ms"])} ms, TTFT p50 ${fmt(p["base_ttft_p50_ms"])} ms.`]
      : []),
    ...(results["detour"]?.["floor_cpu_ratio_rounds"] !== undefined
      ? [`Detour's CPU per request as a multiple of the floor's, round by round: ${results["detour"]["floor_cpu_ratio_rounds"]}; its share of the floor's throughput (%): ${results["detour"]["floor_share_pct_rounds"]}.`]
      : []),
    `${facts.date}, ${facts.machine}; \`npm run bench\`.`,
  ].join("\n");
}
