/**
 * Child processes for the benchmark: start one, find its port, read its CPU
 * time and memory from /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** A started server. */
export interface Proc {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Starts `node <args>`, which prints `{"port":N}` on stdout when it listens. */
export async function startPrinting(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  for await (const line of createInterface({ input: child.stdout! })) {
    const m = /"port":(\d+)/.exec(line);
    if (m) {
      child.stdout!.resume();
      return { child, port: Number(m[1]) };
    }
  }
  throw new Error(`${args.join(" ")} did not start`);
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  return port;
}

/**
 * Starts `node <args…> <port>` style servers, and waits until `readyPath`
 * answers. With `stderrFile`, what the server prints on stderr (a peer's
 * stack traces for the cut-stream scenario, say) goes there instead of
 * between the bench's lines.
 */
export async function startPolling(args: (port: number) => string[], readyPath: string, env: Record<string, string> = {}, stderrFile?: string): Promise<Proc> {
  const port = await freePort();
  const stderr = stderrFile ? openSync(stderrFile, "w") : "inherit";
  const child = spawn(process.execPath, args(port), { stdio: ["ignore", "ignore", stderr], env: { ...process.env, ...env } });
  if (typeof stderr === "number") closeSync(stderr);
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then((r) => r.status < 500, () => false);
    if (ok) return { child, port };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`${args(port).join(" ")} did not become ready`);
}

/** CPU seconds used (all threads, and the main thread alone), current RSS and peak RSS (MB) of a process. */
export async function procStats(pid: number): Promise<{ cpuS: number; mainCpuS: number; rssMb: number; hwmMb: number }> {
  const ticks = async (path: string) => {
    const stat = (await readFile(path, "utf8")).split(") ")[1]?.split(" ") ?? [];
    return Number(stat[11]) + Number(stat[12]);
  };
  const [all, main] = await Promise.all([ticks(`/proc/${pid}/stat`), ticks(`/proc/${pid}/task/${pid}/stat`)]);
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS: all / 100, mainCpuS: main / 100, rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

/** Stops a process and waits for it to exit. */
export async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  p.child.kill("SIGKILL");
  await once(p.child, "exit");
}

/**
 * The node arguments `npm start` runs the gateway with (package.json's start
 * script, paths made absolute), so that the bench measures what users run.
 */
export function startArgs(): string[] {
  const root = new URL("..", import.meta.url).pathname;
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const [node, ...args] = pkg.scripts["start"]!.split(" ");
  if (node !== "node") throw new Error(`package.json's start script runs ${node}, not node`);
  return args.map((a) => (a.startsWith("-") ? a : join(root, a)));
}

/**
 * Starts Detour on a free port of 127.0.0.1 with `config`, once /readyz
 * answers: `node` flags first (a profiler's, say), then `main` — by default
 * what `npm start` runs.
 */
export function startDetour(config: string, o: { flags?: string[]; main?: string[]; env?: Record<string, string> } = {}): Promise<Proc> {
  const main = o.main ?? startArgs();
  return startPolling((port) => [...(o.flags ?? []), ...main, "--config", config, "--port", String(port), "--host", "127.0.0.1"], "/readyz", o.env);
}
