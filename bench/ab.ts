/**
 * `npm run bench:ab`: CPU per request of two Detour builds or flag sets, A and
 * B, side by side on one mock upstream. This VM's speed drifts by up to 2×
 * within minutes, so a change under ~20% is only seen by alternating rounds
 * and comparing each round with its neighbour; run it both ways round (A↔B).
 *
 *   A="dist/src/bundle/main.js" B="dist/src/bundle/main.js --max-semi-space-size=16" npm run bench:ab
 *
 * A and B: a path from the repository root, then node flags (default: what
 * `npm start` runs); or `floor`, the bench's floor proxy, with `spin=<µs>` for
 * a busy-wait of that long per request (how CPU per request answers a known
 * amount of added work: A=floor B="floor spin=80"). Each side's CPU is also
 * split into the main thread's and the rest's (V8's workers: GC, compilers). PIN=1 pins both gateways to CPU 1 and the mock and the
 * load to CPU 0; STREAM=1 streams; SCENARIO=fail-503 (or another of the
 * bench's) fails over; ROUNDS, MS (per round) and C (connections). SEQ=<n>
 * compares sequential latency instead: each round sends n requests, one at a
 * time, to A and B in turn (interleaved), and compares the rounds' medians.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedLoop, interleaved, pct, plainCall, sequential, type Column, type Scenario } from "./measure.ts";
import { procStats, startArgs, startDetour, startPrinting, stop, type Proc } from "./procs.ts";
import { detourConfig } from "./report.ts";

const HERE = new URL(".", import.meta.url).pathname;
const MS = Number(process.env["MS"] ?? 1500);
const ROUNDS = Number(process.env["ROUNDS"] ?? 10);
const C = Number(process.env["C"] ?? 50);
const STREAM = process.env["STREAM"] === "1";
const SCENARIO = (process.env["SCENARIO"] ?? "ok") as Scenario;
const SEQ = Number(process.env["SEQ"] ?? 0);

/** "path --flag …" as node arguments; unset, what `npm start` runs. */
function nodeArgs(spec: string | undefined): string[] {
  if (!spec) return startArgs();
  const [main, ...flags] = spec.split(" ").filter(Boolean);
  return [...flags, join(HERE, "..", main!)];
}

const mock = await startPrinting([join(HERE, "mock-upstream.ts"), "0"]);
const dir = await mkdtemp(join(tmpdir(), "detour-ab-"));
await writeFile(join(dir, "detour.yaml"), detourConfig(`http://127.0.0.1:${mock.port}`, false));
const sides: { name: string; proc: Proc; col: Column; us: number[]; mainUs: number[] }[] = [];

/** Starts a side: the floor proxy (`floor [spin=<µs>]`) or a Detour build. */
function startSide(spec: string | undefined): Promise<Proc> {
  const words = (spec ?? "").split(" ").filter(Boolean);
  if (words[0] !== "floor") return startDetour(join(dir, "detour.yaml"), { main: nodeArgs(spec) });
  const spin = words.find((w) => w.startsWith("spin="))?.slice(5) ?? "0";
  return startPrinting([join(HERE, "../dist/bench/floor-proxy.js"), "0"], { UPSTREAM: `http://127.0.0.1:${mock.port}`, FLOOR_SPIN_US: spin });
}

try {
  for (const name of ["A", "B"]) {
    const proc = await startSide(process.env[name]);
    sides.push({ name, proc, col: { name, port: proc.port, call: plainCall }, us: [], mainUs: [] });
  }
  if (process.env["PIN"] === "1") {
    const pin = (cpu: string, pid: number) => execFileSync("taskset", ["-a", "-p", "-c", cpu, String(pid)], { stdio: "ignore" });
    for (const s of sides) pin("1", s.proc.child.pid!);
    pin("0", mock.child.pid!);
    pin("0", process.pid);
  }
  for (const s of sides) {
    await sequential(s.col, SCENARIO, 200, STREAM);
    await closedLoop(s.col, C, 1500, STREAM, SCENARIO);
  }
  if (SEQ > 0) await seqRounds();
  else await cpuRounds();
} finally {
  for (const s of sides) await stop(s.proc);
  await stop(mock);
}

/** SEQ mode: p50 latency (ms) of A and B per round, requests interleaved one by one. */
async function seqRounds(): Promise<void> {
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  const p50 = { A: [] as number[], B: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const got = await interleaved([a.col, b.col], SEQ, STREAM, SCENARIO);
    const key = STREAM ? "ttft" : "total";
    p50.A.push(pct(got.get("A")![key], 50));
    p50.B.push(pct(got.get("B")![key], 50));
  }
  const what = STREAM ? "time to first token" : "latency";
  for (const n of ["A", "B"] as const) console.log(`${n}: ${what} p50 ${pct(p50[n], 50).toFixed(3)} ms (rounds: ${p50[n].map((x) => x.toFixed(3)).join(" ")})`);
  const diffs = p50.A.map((x, i) => (p50.B[i]! - x) * 1000);
  console.log(`B−A: ${pct(diffs, 50).toFixed(1)} µs, the median of the rounds' differences (${diffs.map((x) => x.toFixed(0)).join(" ")})`);
}

/** CPU per request (µs) of A and B per round, each under the closed-loop load in turn. */
async function cpuRounds(): Promise<void> {
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of r % 2 ? [...sides].reverse() : sides) {
      const before = await procStats(s.proc.child.pid!);
      const load = await closedLoop(s.col, C, MS, STREAM, SCENARIO);
      const after = await procStats(s.proc.child.pid!);
      s.us.push(((after.cpuS - before.cpuS) / Math.max(1, load.ok)) * 1e6);
      s.mainUs.push(((after.mainCpuS - before.mainCpuS) / Math.max(1, load.ok)) * 1e6);
    }
  }
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  for (const s of sides) {
    const st = await procStats(s.proc.child.pid!);
    const others = pct(s.us.map((x, i) => x - s.mainUs[i]!), 50);
    console.log(`${s.name}: ${pct(s.us, 50).toFixed(1)} µs CPU per ${STREAM ? "stream" : "request"} (rounds: ${s.us.map((x) => x.toFixed(0)).join(" ")}); main thread ${pct(s.mainUs, 50).toFixed(1)}, other threads ${others.toFixed(1)} (medians); RSS ${st.rssMb.toFixed(0)} MB, peak ${st.hwmMb.toFixed(0)} MB`);
  }
  const ratios = a.us.map((x, i) => b.us[i]! / x);
  console.log(`B/A: ${(pct(b.us, 50) / pct(a.us, 50)).toFixed(3)} of medians; ${pct(ratios, 50).toFixed(3)} median of the rounds' ratios (${ratios.map((x) => x.toFixed(2)).join(" ")})`);
  console.log(`B−A: ${pct(a.us.map((x, i) => b.us[i]! - x), 50).toFixed(1)} µs, the median of the rounds' differences`);
}
