/**
 * `npm run bench:alloc`: bytes allocated per completion, the floor proxy's
 * beside Detour's (as `npm start` runs it), unary and streamed, under the
 * bench's load: by package, and Detour's by function. Sampled (1 KB) by
 * V8's heap profiler, counting what the GC has already collected; the
 * profiler slows both, so compare bytes, not rates. Allocation drives the
 * young-generation GC that the CPU profile shows as "(garbage collector)".
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pkg, unbundle, where, type CallFrame } from "./frames.ts";
import { closedLoop, plainCall, type Column } from "./measure.ts";
import { startDetour, startPrinting, stop, type Proc } from "./procs.ts";
import { detourConfig } from "./report.ts";

const HERE = new URL(".", import.meta.url).pathname;
const LOAD_MS = Number(process.env["BENCH_LOAD_MS"] ?? 3000);

interface HeapNode {
  id: number;
  callFrame: CallFrame;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples: { size: number; nodeId: number }[];
}

/** Bytes per completion: by package, and by function (self). */
async function summarise(file: string, completions: number) {
  const p = JSON.parse(await readFile(file, "utf8")) as HeapProfile;
  const nodes: HeapNode[] = [];
  const collect = (n: HeapNode) => void (nodes.push(n), n.children.forEach(collect));
  collect(p.head);
  await unbundle(nodes.map((n) => n.callFrame));
  const bytes = new Map<number, number>();
  for (const s of p.samples) bytes.set(s.nodeId, (bytes.get(s.nodeId) ?? 0) + s.size);
  const byPkg = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of nodes) {
    const b = (bytes.get(n.id) ?? 0) / completions;
    if (b === 0) continue;
    total += b;
    const f = n.callFrame;
    byPkg.set(pkg(f.url), (byPkg.get(pkg(f.url)) ?? 0) + b);
    const k = `${f.functionName || "(anonymous)"} ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    byFn.set(k, (byFn.get(k) ?? 0) + b);
  }
  return { total, byPkg, byFn };
}

/** Warms a server up, then samples `ms` of unary and `ms` of streamed load. */
async function sample(name: string, proc: Proc, out: string) {
  const col: Column = { name, port: proc.port, call: plainCall };
  process.stderr.write(`alloc ${name}: warming up, then ${LOAD_MS} ms unary and ${LOAD_MS} ms streamed, 50 connections…\n`);
  await closedLoop(col, 50, 2000);
  await closedLoop(col, 50, 2000, true);
  const runs = [];
  for (const [i, stream] of [false, true].entries()) {
    process.kill(proc.child.pid!, "SIGUSR2");
    await new Promise((r) => setTimeout(r, 200));
    const load = await closedLoop(col, 50, LOAD_MS, stream);
    process.kill(proc.child.pid!, "SIGUSR2");
    const file = `${out}-${i + 1}.json`;
    for (let t = 0; t < 100 && !existsSync(file); t++) await new Promise((r) => setTimeout(r, 100));
    runs.push(await summarise(file, load.ok));
  }
  return runs;
}

const kb = (b: number) => (b / 1024).toFixed(1);

async function main(): Promise<void> {
  const mock = await startPrinting([join(HERE, "mock-upstream.ts"), "0"]);
  const upstream = `http://127.0.0.1:${mock.port}`;
  const dir = await mkdtemp(join(tmpdir(), "detour-alloc-"));
  await writeFile(join(dir, "detour.yaml"), detourConfig(upstream, false));
  const preload = ["--import", join(HERE, "alloc-sampler.ts")];
  try {
    const floorProc = await startPrinting([...preload, join(HERE, "../dist/bench/floor-proxy.js"), "0"], { UPSTREAM: upstream, ALLOC_OUT: join(dir, "floor") });
    const floor = await sample("floor", floorProc, join(dir, "floor")).finally(() => stop(floorProc));
    const detourProc = await startDetour(join(dir, "detour.yaml"), { flags: preload, env: { ALLOC_OUT: join(dir, "detour") } });
    const detour = await sample("detour", detourProc, join(dir, "detour")).finally(() => stop(detourProc));
    for (const [i, mode] of ["unary", "streamed"].entries()) {
      const f = floor[i]!;
      const d = detour[i]!;
      const keys = [...new Set([...d.byPkg.keys(), ...f.byPkg.keys()])].sort((a, b) => (d.byPkg.get(b) ?? 0) - (d.byPkg.get(a) ?? 0)).filter((k) => (d.byPkg.get(k) ?? 0) >= 256 || (f.byPkg.get(k) ?? 0) >= 256);
      console.log(`\n| KB allocated per ${mode} completion | floor | Detour |\n| --- | --: | --: |`);
      for (const k of keys) console.log(`| ${k} | ${kb(f.byPkg.get(k) ?? 0)} | ${kb(d.byPkg.get(k) ?? 0)} |`);
      console.log(`| **total** | ${kb(f.total)} | ${kb(d.total)} |`);
      console.log(`\n| bytes per ${mode} completion | Detour function (self) |\n| --: | --- |`);
      for (const [k, v] of [...d.byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`| ${v.toFixed(0)} | \`${k}\` |`);
    }
  } finally {
    await stop(mock);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
