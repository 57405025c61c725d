/**
 * `npm run bench`: Detour side by side with direct-to-mock (the baseline) and
 * the floor proxy, in one run on one mock upstream, 127.0.0.1 only, bounded
 * loops. Prints a markdown table and writes bench/results/latest.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { once } from "node:events";
import net from "node:net";
import { Pool } from "undici";

const HERE = new URL(".", import.meta.url).pathname;
const SEQUENTIAL = Number(process.env["BENCH_SEQUENTIAL"] ?? 1500);
const LOAD_MS = Number(process.env["BENCH_LOAD_MS"] ?? 4000);
const CONNECTIONS = 50;

interface Proc {
  child: ChildProcess;
  port: number;
}

async function start(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  for await (const line of createInterface({ input: child.stdout! })) {
    const m = /"port":(\d+)/.exec(line);
    if (m) {
      child.stdout!.resume();
      return { child, port: Number(m[1]) };
    }
  }
  throw new Error(`${args.join(" ")} did not start`);
}

/** Starts Detour on a free port and waits until /readyz answers (its logs are at warn level). */
async function startDetour(config: string): Promise<Proc> {
  const probe = net.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  const child = spawn(process.execPath, ["--import", "tsx", join(HERE, "../src/main.ts"), "--config", config, "--port", String(port), "--host", "127.0.0.1"], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { child, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("detour did not become ready");
}

async function procStats(pid: number): Promise<{ cpuS: number; rssMb: number; hwmMb: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS: ticks / 100, rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

const body = (model: string, stream = false) => JSON.stringify({ model, stream, messages: [{ role: "user", content: "Say hello" }] });

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

async function sequential(port: number, model: string, n: number, stream = false): Promise<{ total: number[]; ttft: number[] }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  const total: number[] = [];
  const ttft: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await pool.request({ path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body: body(model, stream) });
    let first = true;
    for await (const c of res.body) {
      if (first && (!stream || String(c).includes('"content":"word'))) {
        ttft.push(performance.now() - t0);
        first = false;
      }
    }
    total.push(performance.now() - t0);
  }
  await pool.close();
  return { total, ttft };
}

async function load(port: number, ms: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  let done = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const res = await pool.request({ path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body: body("ok") });
        await res.body.dump();
        if (res.statusCode === 200) done++;
      }
    }),
  );
  await pool.close();
  return done;
}

async function cutStream(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body("cut", true) });
    const text = await res.text();
    if (text.includes("event: error")) return "SSE error event";
    if (text.includes("[DONE]")) return "clean end ([DONE]) — the cut is hidden";
    return "stream ends without [DONE] or error";
  } catch {
    return "connection reset";
  }
}

async function main(): Promise<void> {
  const mock = await start([join(HERE, "mock-upstream.ts"), "0"]);
  const upstream = `http://127.0.0.1:${mock.port}`;
  const dir = await mkdtemp(join(tmpdir(), "detour-bench-"));
  const config = join(dir, "detour.yaml");
  await writeFile(
    config,
    `auto_providers: false
telemetry: { log_level: warn }
breaker: { disabled: true }
providers:
  - name: mock
    openai: { base_url: "${upstream}/v1", stream_usage: false }
routes:
  - { name: ok, targets: [{ model: mock/ok }] }
  - { name: fail-503, targets: [{ model: mock/fail-503 }, { model: mock/ok }] }
  - { name: fail-429, targets: [{ model: mock/fail-429 }, { model: mock/ok }] }
  - { name: hang, targets: [{ model: mock/hang, ttft_timeout: 100ms }, { model: mock/ok }] }
  - { name: cut, commit_policy: fail, targets: [{ model: mock/cut }] }
`,
  );
  const floor = await start([join(HERE, "floor-proxy.ts"), "0"], { UPSTREAM: upstream });
  const detour = await startDetour(config);
  const columns: [string, Proc][] = [
    ["direct", mock],
    ["floor", floor],
    ["detour", detour],
  ];
  const results: Record<string, Record<string, number | string>> = {};
  for (const [name, p] of columns) {
    const idle = await procStats(p.child.pid!);
    await sequential(p.port, "ok", 200); // warm-up
    const seq = await sequential(p.port, "ok", SEQUENTIAL);
    const streamed = await sequential(p.port, "ok", Math.floor(SEQUENTIAL / 2), true);
    const before = await procStats(p.child.pid!);
    const served = await load(p.port, LOAD_MS);
    const after = await procStats(p.child.pid!);
    const r: Record<string, number | string> = {
      p50_ms: pct(seq.total, 50),
      p99_ms: pct(seq.total, 99),
      ttft_p50_ms: pct(streamed.ttft, 50),
      rps_50_conns: served / (LOAD_MS / 1000),
      cpu_us_per_req: ((after.cpuS - before.cpuS) / served) * 1e6,
      rss_idle_mb: idle.rssMb,
      rss_peak_mb: after.hwmMb,
    };
    if (name !== "direct") {
      const ok = await sequential(p.port, "ok", 300);
      // The floor has no latency threshold: against a hanging upstream it hangs too.
      for (const f of name === "floor" ? ["fail-503", "fail-429"] : ["fail-503", "fail-429", "hang"]) {
        const failover = await sequential(p.port, f, f === "hang" ? 20 : 300);
        r[`failover_${f}_ms`] = pct(failover.total, 50) - pct(ok.total, 50);
      }
      r["cut_stream"] = await cutStream(p.port);
    }
    results[name] = r;
  }
  const direct = results["direct"] as Record<string, number>;
  for (const name of ["floor", "detour"]) {
    const r = results[name] as Record<string, number>;
    r["added_p50_ms"] = r["p50_ms"]! - direct["p50_ms"]!;
    r["added_p99_ms"] = r["p99_ms"]! - direct["p99_ms"]!;
    r["added_ttft_ms"] = r["ttft_p50_ms"]! - direct["ttft_p50_ms"]!;
  }
  for (const [, p] of columns) p.child.kill("SIGTERM");

  const rows: [string, string][] = [
    ["added latency p50, sequential (ms)", "added_p50_ms"],
    ["added latency p99, sequential (ms)", "added_p99_ms"],
    ["added TTFT p50, streamed (ms)", "added_ttft_ms"],
    [`throughput, ${CONNECTIONS} connections (req/s)`, "rps_50_conns"],
    ["gateway CPU per request (µs)", "cpu_us_per_req"],
    ["RSS idle (MB)", "rss_idle_mb"],
    ["RSS peak (MB)", "rss_peak_mb"],
    ["failover beyond healthy, 503 (ms)", "failover_fail-503_ms"],
    ["failover beyond healthy, 429 (ms)", "failover_fail-429_ms"],
    ["failover beyond healthy, hang + 100 ms TTFT threshold (ms)", "failover_hang_ms"],
    ["what a client sees when the upstream cuts a stream", "cut_stream"],
  ];
  const fmt = (v: number | string | undefined) => (v === undefined ? "—" : typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : v);
  const table = [
    `| metric | floor proxy | Detour |`,
    `| --- | --- | --- |`,
    ...rows.map(([label, key]) => `| ${label} | ${fmt(results["floor"]?.[key])} | ${fmt(results["detour"]?.[key])} |`),
    `| (direct-to-mock baseline: p50 ${fmt(direct["p50_ms"])} ms, ${fmt(direct["rps_50_conns"])} req/s) | | |`,
  ].join("\n");
  console.log(table);
  await mkdir(join(HERE, "results"), { recursive: true });
  await writeFile(join(HERE, "results", "latest.json"), JSON.stringify({ date: new Date().toISOString(), sequential: SEQUENTIAL, load_ms: LOAD_MS, results }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
