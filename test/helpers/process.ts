/**
 * Detour as its own process, the way it runs in production: signals, exit
 * codes, stdout logs. Starts on a free port and resolves once it listens.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const ROOT = new URL("../../", import.meta.url).pathname;

/** How to start it. */
export interface SpawnOptions {
  /** The config file's YAML; without it the built-in config. */
  readonly yaml?: string;
  /** The TypeScript sources (through tsx) or the compiled build in dist/. */
  readonly entry?: "src" | "dist";
  /** More command-line flags. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** A running gateway process. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** The config file it was started with ("" for the built-in one). */
  readonly config: string;
  /** Its exit code. */
  readonly exit: Promise<number | null>;
  /** The next stdout line matching `pattern`; throws if the output ends first. */
  line(pattern: RegExp): Promise<string>;
}

/** Starts Detour on a free port of 127.0.0.1 and waits until it listens. */
export async function spawnGateway(o: SpawnOptions = {}): Promise<GatewayProcess> {
  let config = "";
  if (o.yaml !== undefined) {
    config = join(await mkdtemp(join(tmpdir(), "detour-proc-")), "detour.yaml");
    await writeFile(config, o.yaml);
  }
  const main = o.entry === "dist" ? ["dist/src/bundle/main.js"] : ["--import", "tsx", "src/main.ts"];
  const args = [...main, ...(config ? ["--config", config] : []), "--port", "0", "--host", "127.0.0.1", ...(o.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: o.env ?? process.env });
  const exit = once(child, "exit").then(([code]) => code as number | null);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const line = async (pattern: RegExp): Promise<string> => {
    for (let r = await lines.next(); !r.done; r = await lines.next()) if (pattern.test(r.value)) return r.value;
    throw new Error(`no line matched ${pattern}; exit code ${await exit}`);
  };
  const port = /"port":(\d+)/.exec(await line(/"port":\d+/))?.[1];
  return { child, url: `http://127.0.0.1:${port}`, config, exit, line };
}
