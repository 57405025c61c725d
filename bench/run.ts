/**
 * `npm run bench`: Detour side by side with direct-to-mock (the baseline),
 * the floor proxy and Portkey's gateway, in one run on one mock upstream,
 * 127.0.0.1 only, bounded loops. Prints a markdown table and writes
 * bench/results/latest.json.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { beyondHealthy, chatBody, hangBeyondHealthy, closedLoop, plainCall, cutStream, fixedRate, interleaved, openStreams, pct, ratePool, sequential, type Column, type Scenario } from "./measure.ts";
import { procStats, startDetour, startPolling, startPrinting, stop, type Proc } from "./procs.ts";
import { detourConfig, ROWS, table, type Results } from "./report.ts";

const HERE = new URL(".", import.meta.url).pathname;
const N = Number(process.env["BENCH_SEQUENTIAL"] ?? 1000);
const LOAD_MS = Number(process.env["BENCH_LOAD_MS"] ?? 3000);
const STREAMS = Number(process.env["BENCH_STREAMS"] ?? 1000);
const CONNECTIONS = 50;
const RATE = 500;
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5);
const ROUND_MS = 1500;
/** Tokens in a long answer ("long" at the mock, one every millisecond), and the rounds that time them. */
const LONG_TOKENS = 200;
const TOKEN_ROUNDS = 3;
const TOKEN_ROUND_MS = 1200;
/** The hang row's latency threshold (Detour's is ttft_timeout in report.ts's config), and the pause before its healthy answer. */
const HANG_MS = 100;
/** Columns that answer too slowly to share the fast columns' sequential rotation (see sequentialRounds). */
const SLOW = new Set(["portkey"]);

function portkeyCall(upstream: string) {
  const target = (model: string, extra: object = {}) => ({ provider: "openai", custom_host: `${upstream}/v1`, api_key: "sk-bench", override_params: { model }, ...extra });
  const configs: Partial<Record<Scenario, object>> = {
    "fail-503": { strategy: { mode: "fallback" }, targets: [target("fail-503"), target("ok")] },
    "fail-429": { strategy: { mode: "fallback" }, targets: [target("fail-429"), target("ok")] },
    hang: { strategy: { mode: "fallback" }, targets: [target("hang", { request_timeout: HANG_MS }), target("ok")] },
  };
  return (scenario: Scenario, stream: boolean) => ({
    path: "/v1/chat/completions",
    headers: { "x-portkey-config": JSON.stringify(configs[scenario] ?? target(scenario)) },
    body: chatBody(scenario, stream),
  });
}


async function measure(col: Column, proc: Proc, full: boolean): Promise<Record<string, number | string>> {
  const pid = proc.child.pid!;
  const idle = await procStats(pid);
  await sequential(col, "ok", 200);
  await sequential(col, "ok", 100, true);
  // Warm up under load too: the fixed-rate p99 otherwise catches the JIT at
  // work (the sequential phases, once the warm-up, now run later, interleaved).
  await closedLoop(col, CONNECTIONS, 1000);
  await closedLoop(col, CONNECTIONS, 1000, true);
  const load = await loadSample(proc, col, LOAD_MS);
  const r: Record<string, number | string> = {
    rps: load.rps,
    streams_per_s: load.streams,
    failed: load.failed,
    cpu_us_per_req: load.cpu,
    rss_idle_mb: idle.rssMb,
  };
  if (!full) return r;
  // Peak RSS with STREAMS slow streams open on top of everything before.
  const open = await openStreams(col, STREAMS);
  await open.close();
  r["cut_stream"] = await cutStream(col);
  r["rss_peak_mb"] = (await procStats(pid)).hwmMb;
  return r;
}

/** `ms` of unary load then `ms` of streamed load at CONNECTIONS connections, with the gateway's CPU per unary request. */
async function loadSample(proc: Proc, col: Column, ms: number): Promise<{ rps: number; cpu: number; streams: number; failed: number }> {
  const before = await procStats(proc.child.pid!);
  const load = await closedLoop(col, CONNECTIONS, ms);
  const after = await procStats(proc.child.pid!);
  const streams = await closedLoop(col, CONNECTIONS, ms, true);
  return {
    rps: load.ok / (ms / 1000),
    cpu: ((after.cpuS - before.cpuS) / Math.max(1, load.ok)) * 1e6,
    streams: streams.ok / (ms / 1000),
    failed: load.failed + streams.failed,
  };
}

/**
 * Memory per open stream, in a process of its own: after load the heap has
 * room to spare and absorbs the streams, so the RSS a busy process adds for
 * them says little. A fresh one is warmed with a few streams, then holds
 * STREAMS slow streams; the RSS it adds, per stream.
 */
async function memoryPerStream(start: () => Promise<Proc>, column: (p: Proc) => Column): Promise<number | string> {
  const proc = await start();
  try {
    const col = column(proc);
    process.stderr.write(`bench: memory per stream, ${col.name}…\n`);
    await sequential(col, "ok", 50, true);
    const base = await procStats(proc.child.pid!);
    const open = await openStreams(col, STREAMS);
    const held = await procStats(proc.child.pid!);
    await open.close();
    const kb = ((held.rssMb - base.rssMb) * 1024) / Math.max(1, open.opened);
    return open.opened === STREAMS ? kb : `${kb.toFixed(1)} (only ${open.opened} of ${STREAMS} opened)`;
  } finally {
    await stop(proc);
  }
}

/**
 * The sequential latencies and TTFTs of all columns, request by request in
 * turn, so that "added" compares figures from the same minutes. A slow peer
 * in the rotation would leave the others idle for its whole answer
 * (Portkey: ~27 ms to a first token), long enough for this VM to park them,
 * and every fast column would answer colder (the mock's own TTFT 0.22 →
 * 0.85 ms with 27 ms gaps between requests). So the columns that answer in
 * about a millisecond take turns among themselves, and each slower one in a
 * rotation of its own with the baseline; "added" subtracts the baseline
 * measured in the column's own rotation. The failover rows (503, 429) are
 * timed in the same rotations, for the same reason.
 */
async function sequentialRounds(procs: Map<string, { proc: Proc; col: Column }>, results: Results): Promise<void> {
  const all = [...procs.values()].map((p) => p.col);
  const direct = all.find((c) => c.name === "direct")!;
  const slow = (c: Column) => SLOW.has(c.name);
  const rotations = [all.filter((c) => !slow(c)), ...all.filter(slow).map((c) => [direct, c])];
  for (const cols of rotations) {
    process.stderr.write(`bench: sequential, ${cols.map((c) => c.name).join(", ")} in turn…\n`);
    // Each gateway is idle but for its own turns: its CPU over the rotation is its requests'.
    const gateways = cols.filter((c) => c !== direct);
    const cpuBefore = await Promise.all(gateways.map((c) => procStats(procs.get(c.name)!.proc.child.pid!)));
    const unary = await interleaved(cols, N, false);
    const cpuAfter = await Promise.all(gateways.map((c) => procStats(procs.get(c.name)!.proc.child.pid!)));
    gateways.forEach((c, i) => (results[c.name]!["seq_cpu_us_per_req"] = ((cpuAfter[i]!.cpuS - cpuBefore[i]!.cpuS) / N) * 1e6));
    const streamed = await interleaved(cols, Math.floor(N / 2), true);
    const base = unary.get("direct")!;
    const baseStreamed = streamed.get("direct")!;
    for (const col of cols) {
      if (col === direct && cols !== rotations[0]) continue;
      const u = unary.get(col.name)!;
      const s = streamed.get(col.name)!;
      const r = results[col.name]!;
      r["p50_ms"] = pct(u.total, 50);
      r["p99_ms"] = pct(u.total, 99);
      r["ttft_p50_ms"] = pct(s.ttft, 50);
      r["base_p50_ms"] = pct(base.total, 50);
      r["base_p99_ms"] = pct(base.total, 99);
      r["base_ttft_p50_ms"] = pct(baseStreamed.ttft, 50);
      r["failed"] = (r["failed"] as number) + u.failed + s.failed;
    }
    // Failover beyond the healthy upstream, the gateways in turn (the baseline has no fallback).
    for (const f of ["fail-503", "fail-429"] as const) {
      for (const [name, ms] of await beyondHealthy(gateways, f, 300)) results[name]![`failover_${f}_ms`] = ms;
    }
  }
}

/**
 * The failover from a hung first target (a 100 ms threshold), the gateways
 * that have one in turn. The floor has no latency threshold: against a
 * hanging upstream it hangs too.
 */
async function hangRounds(procs: Map<string, { proc: Proc; col: Column }>, results: Results): Promise<void> {
  const cols = [...procs.values()].map((p) => p.col).filter((c) => c.name !== "direct" && c.name !== "floor");
  process.stderr.write(`bench: hang, ${cols.map((c) => c.name).join(", ")} in turn…\n`);
  if (results["floor"]) results["floor"]["failover_hang_over_ms"] = "waits as long as the client";
  for (const [name, hang] of await hangBeyondHealthy(cols, "hang", 12, HANG_MS)) {
    const r = results[name]!;
    r["failover_hang_ms"] = hang.paused;
    r["failover_hang_over_ms"] = typeof hang.paused === "number" ? hang.paused - HANG_MS : hang.paused;
    r["failover_hang_warm_over_ms"] = typeof hang.warm === "number" ? hang.warm - HANG_MS : hang.warm;
  }
}

/**
 * The latencies at a fixed RATE, in ROUNDS rounds of LOAD_MS / ROUNDS per
 * column, the columns in turn (the order rotating), so that the baseline
 * and each gateway are loaded in the same minutes; each column's p50 and
 * p99 are over all its rounds' requests.
 */
async function rateRounds(procs: Map<string, { proc: Proc; col: Column }>, results: Results): Promise<void> {
  const cols = [...procs.values()].map((p) => p.col);
  const pools = cols.map(ratePool);
  const totals = cols.map(() => [] as number[]);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`bench: ${RATE} req/s, round ${round + 1}/${ROUNDS}…\n`);
      for (let k = 0; k < cols.length; k++) {
        const j = (round + k) % cols.length;
        const rated = await fixedRate(cols[j]!, RATE, LOAD_MS / ROUNDS, pools[j]);
        totals[j]!.push(...rated.total);
        const r = results[cols[j]!.name]!;
        r["failed"] = (r["failed"] as number) + rated.failed;
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  cols.forEach((c, j) => {
    results[c.name]!["rate_p50_ms"] = pct(totals[j]!, 50);
    results[c.name]!["rate_p99_ms"] = pct(totals[j]!, 99);
  });
}

/**
 * This machine's speed drifts from minute to minute, which skews a ratio of
 * two columns measured a minute apart. So throughput, CPU per request and
 * streamed completions are measured again in ROUNDS rounds that alternate
 * the gateways (order rotating), and each figure is the median over its
 * rounds; the share of the floor's throughput and the multiple of its CPU
 * per request are medians of the per-round ratios.
 */
async function throughputRounds(procs: Map<string, { proc: Proc; col: Column }>, results: Results): Promise<void> {
  const names = ["floor", "portkey", "detour"].filter((n) => procs.has(n));
  const samples = new Map<string, { rps: number; cpu: number; streams: number }[]>(
    names.map((n) => [n, [{ rps: results[n]!["rps"] as number, cpu: results[n]!["cpu_us_per_req"] as number, streams: results[n]!["streams_per_s"] as number }]]),
  );
  const shares: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`bench: throughput round ${round + 1}/${ROUNDS}…\n`);
    const inRound = new Map<string, number>();
    const cpuInRound = new Map<string, number>();
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const { proc, col } = procs.get(name)!;
      const load = await loadSample(proc, col, ROUND_MS);
      samples.get(name)!.push(load);
      results[name]!["failed"] = (results[name]!["failed"] as number) + load.failed;
      inRound.set(name, load.rps);
      cpuInRound.set(name, load.cpu);
    }
    if (inRound.has("detour") && inRound.has("floor")) {
      shares.push(inRound.get("detour")! / inRound.get("floor")!);
      cpuRatios.push(cpuInRound.get("detour")! / cpuInRound.get("floor")!);
    }
  }
  const median = (xs: number[]) => pct(xs, 50);
  for (const name of names) {
    const s = samples.get(name)!;
    results[name]!["rps"] = median(s.map((x) => x.rps));
    results[name]!["cpu_us_per_req"] = median(s.map((x) => x.cpu));
    results[name]!["streams_per_s"] = median(s.map((x) => x.streams));
  }
  if (shares.length > 0) {
    results["detour"]!["floor_share_pct"] = median(shares) * 100;
    results["detour"]!["floor_share_pct_rounds"] = shares.map((x) => (x * 100).toFixed(1)).join(", ");
  }
  if (cpuRatios.length > 0) {
    results["detour"]!["floor_cpu_ratio"] = median(cpuRatios);
    results["detour"]!["floor_cpu_ratio_rounds"] = cpuRatios.map((x) => x.toFixed(2)).join(", ");
  }
}

/**
 * CPU per token of a long answer: CONNECTIONS streams at once of LONG_TOKENS
 * tokens 1 ms apart, so that each token is a read and a write of its own (a
 * burst read at once costs far less per token). Rounds alternate the
 * gateways, as in throughputRounds; the figures are medians over rounds.
 */
async function tokenRounds(procs: Map<string, { proc: Proc; col: Column }>, results: Results): Promise<void> {
  const names = ["floor", "portkey", "detour"].filter((n) => procs.has(n));
  const perToken = new Map<string, number[]>(names.map((n) => [n, []]));
  const ratios: number[] = [];
  for (let round = 0; round < TOKEN_ROUNDS; round++) {
    process.stderr.write(`bench: long answers, round ${round + 1}/${TOKEN_ROUNDS}…\n`);
    const inRound = new Map<string, number>();
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const { proc, col } = procs.get(name)!;
      const before = await procStats(proc.child.pid!);
      const load = await closedLoop(col, CONNECTIONS, TOKEN_ROUND_MS, true, "long");
      const after = await procStats(proc.child.pid!);
      const us = ((after.cpuS - before.cpuS) / Math.max(1, load.ok * LONG_TOKENS)) * 1e6;
      perToken.get(name)!.push(us);
      inRound.set(name, us);
      results[name]!["failed"] = (results[name]!["failed"] as number) + load.failed;
    }
    if (inRound.has("detour") && inRound.has("floor")) ratios.push(inRound.get("detour")! / inRound.get("floor")!);
  }
  for (const name of names) results[name]!["cpu_us_per_token"] = pct(perToken.get(name)!, 50);
  if (ratios.length > 0) {
    results["detour"]!["floor_token_cpu_ratio"] = pct(ratios, 50);
    results["detour"]!["floor_token_cpu_ratio_rounds"] = ratios.map((x) => x.toFixed(2)).join(", ");
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const mock = await startPrinting([join(HERE, "mock-upstream.ts"), "0"], { LONG_TOKENS: String(LONG_TOKENS), LONG_GAP_MS: "1" });
  const upstream = `http://127.0.0.1:${mock.port}`;
  const dir = await mkdtemp(join(tmpdir(), "detour-bench-"));
  await writeFile(join(dir, "detour.yaml"), detourConfig(upstream, false));
  await writeFile(join(dir, "detour-breakers.yaml"), detourConfig(upstream, true));
  const results: Results = {};
  await mkdir(join(HERE, "results"), { recursive: true });
  // Detour as `npm start` runs it (startDetour; `npm run bench` builds first).
  const columns: [string, () => Promise<Proc>, (p: Proc) => Column][] = [
    ["direct", async () => mock, (p) => ({ name: "direct", port: p.port, call: plainCall })],
    ["floor", () => startPrinting([join(HERE, "../dist/bench/floor-proxy.js"), "0"], { UPSTREAM: upstream }), (p) => ({ name: "floor", port: p.port, call: plainCall })],
    [
      "portkey",
      () => startPolling((port) => [join(HERE, "../node_modules/@portkey-ai/gateway/build/start-server.js"), `--port=${port}`, "--headless"], "/", {}, join(HERE, "results", "portkey.stderr.log")),
      (p) => ({ name: "portkey", port: p.port, call: portkeyCall(upstream) }),
    ],
    ["detour", () => startDetour(join(dir, "detour.yaml")), (p) => ({ name: "detour", port: p.port, call: plainCall })],
  ];
  // All columns run side by side (an idle one costs the others nothing), so
  // that the throughput rounds below can alternate between them.
  const procs = new Map<string, { proc: Proc; col: Column }>();
  try {
    for (const [name, start, column] of columns) {
      const proc = await start();
      procs.set(name, { proc, col: column(proc) });
      process.stderr.write(`bench: ${name}…\n`);
      results[name] = await measure(column(proc), proc, name !== "direct");
    }
    await sequentialRounds(procs, results);
    await hangRounds(procs, results);
    await rateRounds(procs, results);
    await throughputRounds(procs, results);
    await tokenRounds(procs, results);
  } finally {
    for (const { proc } of procs.values()) if (proc !== mock) await stop(proc);
  }
  for (const [name, start, column] of columns) if (name !== "direct") results[name]!["kb_per_stream"] = await memoryPerStream(start, column);
  // Open-breaker skip: a second Detour with breakers on; trip the failing target, then time the skip.
  const breakers = await startDetour(join(dir, "detour-breakers.yaml"));
  try {
    const col: Column = { name: "detour", port: breakers.port, call: plainCall };
    await sequential(col, "open-breaker", 50);
    results["detour"]!["breaker_skip_ms"] = (await beyondHealthy([col], "open-breaker", 500)).get("detour")!;
  } finally {
    await stop(breakers);
  }
  await stop(mock);

  const direct = results["direct"]!;
  for (const name of ["floor", "portkey", "detour"]) {
    const r = results[name]!;
    for (const [k, from] of [["added_p50_ms", "p50_ms"], ["added_p99_ms", "p99_ms"], ["added_rate_p50_ms", "rate_p50_ms"], ["added_rate_p99_ms", "rate_p99_ms"], ["added_ttft_ms", "ttft_p50_ms"]] as const) {
      r[k] = (r[from] as number) - ((r[`base_${from}`] ?? direct[from]) as number);
    }
  }
  // The issue set its latency targets beside its machine's floor (+0.34 ms sequential, +0.44 ms
  // to the first token): as multiples of the floor's, measured in the same rotation, they travel.
  const floor = results["floor"];
  const detour = results["detour"];
  if (floor && detour) {
    detour["floor_p50_ratio"] = (detour["added_p50_ms"] as number) / (floor["added_p50_ms"] as number);
    detour["floor_ttft_ratio"] = (detour["added_ttft_ms"] as number) / (floor["added_ttft_ms"] as number);
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}`;
  console.log(table(results, ROWS, { machine, date: new Date().toISOString().slice(0, 10), connections: CONNECTIONS, rate: RATE, streams: STREAMS }));
  await mkdir(join(HERE, "results"), { recursive: true });
  await writeFile(join(HERE, "results", "latest.json"), JSON.stringify({ date: new Date().toISOString(), machine, sequential: N, load_ms: LOAD_MS, streams: STREAMS, results }, null, 2));
  process.stderr.write(`bench: done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
