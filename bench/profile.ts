/**
 * `npm run bench:profile`: the floor proxy, then Detour (the compiled
 * build), under the bench's load with the V8 CPU profiler on; then where
 * their busy time went — µs per completion by package, side by side, and
 * Detour's by function (self and inclusive) — skipping start-up and warm-up. The .cpuprofile it writes opens as a flame graph in Chrome
 * DevTools (Performance) or speedscope.
 */
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pkg, unbundle, where, type CallFrame } from "./frames.ts";
import { closedLoop, plainCall, type Column, type Scenario } from "./measure.ts";
import { startDetour, startPrinting, stop, type Proc } from "./procs.ts";
import { detourConfig } from "./report.ts";

const HERE = new URL(".", import.meta.url).pathname;
const OUT = join(HERE, "results", "profile");
const LOAD_MS = Number(process.env["BENCH_LOAD_MS"] ?? 4000);
/** SHAPE=unary or SHAPE=stream profiles that shape alone (the bench's CPU row is unary); both by default. */
const SHAPE = process.env["SHAPE"] ?? "both";
if (!["unary", "stream", "both"].includes(SHAPE)) throw new Error(`SHAPE=${SHAPE}: use unary, stream or both`);
/** SCENARIO=fail-503 (or another of the bench's) profiles a failover on every request; default ok. */
const SCENARIO = (process.env["SCENARIO"] ?? "ok") as Scenario;

interface Node {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self and inclusive time per function, and self time per package, over samples after `fromUs`. */
function summarise(p: Profile, fromUs: number) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const pkgs = new Map<string, number>();
  let t = p.startTime;
  let busy = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (t < fromUs) return;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") return void (idle += dt);
    busy += dt;
    const key = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ""}`;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    pkgs.set(pkg(node.callFrame.url), (pkgs.get(pkg(node.callFrame.url)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let n: Node | undefined = node; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const k = key(n);
      if (seen.has(k) || k.startsWith("(root)")) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  });
  return { self, incl, pkgs, busy, idle };
}

function top(m: Map<string, number>, busy: number, n: number, filter: (k: string) => boolean = () => true): string {
  return [...m]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `| ${((100 * v) / busy).toFixed(1)}% | \`${k}\` |`)
    .join("\n");
}

interface Run {
  readonly name: string;
  readonly completions: number;
  readonly s: ReturnType<typeof summarise>;
  readonly file: string;
}

/** Runs the warm-up and the profiled load against one server started with --cpu-prof into `dir`. */
async function profileOne(name: string, dir: string, start: () => Promise<Proc>): Promise<Run> {
  await mkdir(dir, { recursive: true });
  const proc = await start();
  const col: Column = { name, port: proc.port, call: plainCall };
  try {
    process.stderr.write(`profile ${name}: warming up, then ${SHAPE === "both" ? `${LOAD_MS} ms unary and ${LOAD_MS} ms streamed` : `${LOAD_MS} ms ${SHAPE}`}, 50 connections…\n`);
    await closedLoop(col, 50, 2000, false, SCENARIO);
    await closedLoop(col, 50, 2000, true, SCENARIO);
    // Both clocks are the system's monotonic clock: V8 stamps samples in µs of it.
    const from = Number(process.hrtime.bigint() / 1000n);
    const unary = SHAPE === "stream" ? { ok: 0 } : await closedLoop(col, 50, LOAD_MS, false, SCENARIO);
    const streamed = SHAPE === "unary" ? { ok: 0 } : await closedLoop(col, 50, LOAD_MS, true, SCENARIO);
    proc.child.kill("SIGINT");
    await once(proc.child, "exit");
    const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
    if (!file) throw new Error(`${name} wrote no .cpuprofile`);
    const profile = JSON.parse(await readFile(join(dir, file), "utf8")) as Profile;
    await unbundle(profile.nodes.map((n) => n.callFrame));
    const end = profile.startTime + profile.timeDeltas.reduce((a, b) => a + b, 0);
    if (from < profile.startTime || from > end) throw new Error("the profile's clock does not match this process's: cannot skip the warm-up");
    return { name, completions: unary.ok + streamed.ok, s: summarise(profile, from), file: join(dir, file) };
  } finally {
    await stop(proc);
  }
}

/** Busy µs per completion by package, the floor's beside Detour's. */
function byPackage(floor: Run, detour: Run): string {
  const us = (r: Run, k: string) => (r.s.pkgs.get(k) ?? 0) / r.completions;
  const keys = [...new Set([...detour.s.pkgs.keys(), ...floor.s.pkgs.keys()])].sort((a, b) => us(detour, b) - us(detour, a)).filter((k) => us(detour, k) >= 0.5 || us(floor, k) >= 0.5);
  const row = (k: string, f: number, d: number) => `| ${k} | ${f.toFixed(1)} | ${d.toFixed(1)} | ${(d - f >= 0 ? "+" : "") + (d - f).toFixed(1)} |`;
  return ["| busy µs per completion | floor | Detour | Detour − floor |", "| --- | --: | --: | --: |", ...keys.map((k) => row(k, us(floor, k), us(detour, k))), row("**total**", floor.s.busy / floor.completions, detour.s.busy / detour.completions)].join("\n");
}

async function main(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  const mock = await startPrinting([join(HERE, "mock-upstream.ts"), "0"]);
  const upstream = `http://127.0.0.1:${mock.port}`;
  const dir = await mkdtemp(join(tmpdir(), "detour-profile-"));
  await writeFile(join(dir, "detour.yaml"), detourConfig(upstream, false));
  const prof = (name: string) => ["--cpu-prof", `--cpu-prof-dir=${join(OUT, name)}`];
  try {
    const floor = await profileOne("floor", join(OUT, "floor"), () => startPrinting([...prof("floor"), join(HERE, "../dist/bench/floor-proxy.js"), "0"], { UPSTREAM: upstream }));
    const detour = await profileOne("detour", join(OUT, "detour"), () => startDetour(join(dir, "detour.yaml"), { flags: prof("detour") }));
    const s = detour.s;
    for (const r of [floor, detour]) console.log(`${r.name} under load: ${r.completions} completions (${SHAPE === "both" ? "half unary, half streamed by time" : SHAPE}); busy ${(r.s.busy / 1e6).toFixed(1)} s, idle ${(r.s.idle / 1e6).toFixed(1)} s of the window.`);
    console.log("\nThe profiler adds its own cost to both; compare the two columns, not the totals with the bench's CPU row.\n");
    console.log(byPackage(floor, detour).replace(/`/g, ""));
    console.log("\nDetour:\n\n| busy time (self) | function |\n| --: | --- |\n" + top(s.self, s.busy, 25));
    console.log("\n| busy time (inclusive) | Detour function |\n| --: | --- |\n" + top(s.incl, s.busy, 25, (k) => / src\//.test(k)));
    console.log(`\nFlame graphs: open ${detour.file} (or the floor's, ${floor.file}) in Chrome DevTools (Performance) or https://www.speedscope.app.`);
  } finally {
    await stop(mock);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
