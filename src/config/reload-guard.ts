/**
 * Hot reload's decisions, apart from the file watching that triggers it. A
 * reload must never be the way a gateway opens by accident: an editor's
 * two-step save leaves the file empty or half-written for a moment, and a
 * file with no keys read then would serve everyone (with the vendor keys
 * auto providers take from the environment). So the file is read until two
 * reads a moment apart agree, a reload that removes every key is refused
 * unless the new file says `open: true`, and every change is logged.
 */
import type { Config } from "../../gen/detour/v1/config_pb.js";
import type { Logger } from "../telemetry/log.ts";
import { ConfigError } from "./error.ts";
import { readConfigText } from "./load.ts";

/** What a reload adds and removes, by name only (never a key's hash or a secret). */
export interface ReloadChanges {
  readonly keys: { readonly added: readonly string[]; readonly removed: readonly string[] };
  readonly routes: { readonly added: readonly string[]; readonly removed: readonly string[] };
  readonly providers: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

function diff(before: readonly string[], after: readonly string[]) {
  const was = new Set(before);
  const now = new Set(after);
  return { added: after.filter((n) => !was.has(n)), removed: before.filter((n) => !now.has(n)) };
}

/** The names added and removed between two configs. */
export function reloadChanges(current: Config, next: Config): ReloadChanges {
  return {
    keys: diff(current.keys.map((k) => k.name), next.keys.map((k) => k.name)),
    routes: diff(current.routes.map((r) => r.name), next.routes.map((r) => r.name)),
    providers: diff(current.providers.map((p) => p.name), next.providers.map((p) => p.name)),
  };
}

/** Why `next` may not replace `current`, or undefined when it may. */
export function reloadProblem(current: Config, next: Config): string | undefined {
  if (current.keys.length > 0 && next.keys.length === 0 && !next.open) {
    return `keys: the new file has none, which would open the gateway to anyone who can reach it; keep at least one key, or set "open: true" to serve without keys on purpose`;
  }
  return undefined;
}

/** How to read the file until it settles. */
export interface SettleOptions {
  /** The pause between two reads that must agree. Default 75 ms. */
  readonly gapMs?: number;
  /** Most reads before giving up on a file that keeps changing. Default 8. */
  readonly maxReads?: number;
  readonly read?: (path: string) => Promise<string>;
  readonly wait?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The file's text once two reads `gapMs` apart agree: a save in progress
 * (truncate, then write) is not taken for the config. Throws a ConfigError
 * when it has not settled after `maxReads` reads.
 */
export async function readSettled(path: string, o: SettleOptions = {}): Promise<string> {
  const read = o.read ?? readConfigText;
  const wait = o.wait ?? pause;
  const gapMs = o.gapMs ?? 75;
  const maxReads = Math.max(2, o.maxReads ?? 8);
  let text = await read(path);
  for (let n = 1; n < maxReads; n++) {
    await wait(gapMs);
    const again = await read(path);
    if (again === text) return text;
    text = again;
  }
  throw new ConfigError(path, [`the file kept changing over ${maxReads} reads ${gapMs} ms apart; reload again once it is saved`]);
}

/** What a reloader needs. */
export interface ReloaderDeps extends SettleOptions {
  readonly path: string;
  /** Text → validated config (parseConfig, plus what the command line adds). */
  readonly parse: (text: string, path: string) => Config;
  /** Swaps the running config (app.reload); throws to refuse. */
  readonly apply: (next: Config) => void;
  readonly logger: Logger;
}

/** Reloads the config file on demand, one reload at a time. */
export interface Reloader {
  /** Reads, checks and applies the file; resolves true when it applied. Never rejects. */
  reload(why: string): Promise<boolean>;
  /** The config serving now. */
  current(): Config;
}

/** Builds the reloader around the config the gateway started with. */
export function createReloader(initial: Config, deps: ReloaderDeps): Reloader {
  let current = initial;
  // A SIGHUP during a file-change reload waits its turn: two must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const once = async (why: string): Promise<boolean> => {
    try {
      const next = deps.parse(await readSettled(deps.path, deps), deps.path);
      const problem = reloadProblem(current, next);
      if (problem) throw new ConfigError(deps.path, [problem]);
      const changes = reloadChanges(current, next);
      deps.apply(next);
      current = next;
      deps.logger.warn({ why, ...changes, open: next.keys.length === 0 }, "config reloaded");
      return true;
    } catch (e) {
      deps.logger.error({ why, error: e instanceof Error ? e.message : String(e) }, "config reload refused; the old config stays");
      return false;
    }
  };
  return {
    reload(why) {
      const run = queue.then(() => once(why));
      queue = run;
      return run;
    },
    current: () => current,
  };
}
