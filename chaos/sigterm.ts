/**
 * SIGTERM under load, against the real process (`src/main.ts`): steady
 * keyed load while the upstream streams slowly and fails now and then, then
 * SIGTERM with calls in flight. A request the gateway accepted — the
 * upstream saw its key — must still end in a success or a typed error; only
 * requests it never accepted (refused connections) may fail at the
 * connection. The process must drain without forcing and exit 0.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { tally, tallyViolations, type Tally } from "./checks.ts";
import type { Outcome } from "./client.ts";
import { startFaultUpstream } from "./fault-upstream.ts";
import { CLIENT_TIMEOUT_MS, GRACE_MS } from "./in-process.ts";
import { driveLoad } from "./load.ts";
import { chaosConfig, DEADLINE_MS } from "./scenario.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Bounds on the process's start and on its exit after the signal (drain_timeout is 15s). */
const START_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 20_000;

/** What the SIGTERM run saw. */
export interface SigtermReport {
  readonly tally: Tally;
  /** Requests the gateway accepted. */
  readonly accepted: number;
  /** Requests refused at the connection (sent after the listener closed). */
  readonly refused: number;
  /** Upstream calls open when the signal was sent. */
  readonly inFlightAtSignal: number;
  /** Requests that ended well after the signal. */
  readonly endedAfterSignal: number;
  readonly exitCode: number | null;
  readonly violations: readonly string[];
}

/** Options of the run. */
export interface SigtermOptions {
  readonly workers: number;
  readonly seed: number;
  /** Load before the signal, at least. */
  readonly warmMs: number;
  readonly log?: (line: string) => void;
}

/** Rejects with `what` if `p` has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([p, sleep(ms, undefined, { signal: timer.signal }).then(() => Promise.reject(new Error(`${what} within ${ms}ms`)))]);
  } finally {
    timer.abort();
  }
}

/** Runs the SIGTERM check. */
export async function runSigterm(opts: SigtermOptions): Promise<SigtermReport> {
  const log = opts.log ?? (() => undefined);
  // Streams take ~200ms, so many are in flight at any moment.
  const upstream = await startFaultUpstream({ seed: opts.seed, chunks: 8, chunkDelayMs: 25 });
  upstream.setPhase({ name: "sigterm", models: { primary: { unavailable: 0.2, drop_mid_stream: 0.2 } } });
  const dir = await mkdtemp(join(tmpdir(), "detour-chaos-"));
  const file = join(dir, "detour.yaml");
  await writeFile(file, chaosConfig(upstream.baseUrl, "info"));
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--config", file, "--port", "0", "--host", "127.0.0.1"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  try {
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const port = await within(
      (async () => {
        for (let line = await lines.next(); !line.done; line = await lines.next()) {
          const m = /"port":(\d+)/.exec(line.value);
          if (m) return Number(m[1]);
        }
        throw new Error("detour exited before listening");
      })(),
      START_TIMEOUT_MS,
      "detour did not listen",
    );
    // Keep reading the request log, for the drain's verdict.
    let drainLine = "";
    const reading = (async () => {
      for (let line = await lines.next(); !line.done; line = await lines.next()) {
        if (/"msg":"(drained|drain timed out)/.test(line.value)) drainLine = line.value;
      }
    })();
    const url = `http://127.0.0.1:${port}`;
    log(`detour pid ${child.pid} on ${url}`);
    let signalAt = Number.POSITIVE_INFINITY;
    let inFlightAtSignal = 0;
    const load = driveLoad({
      url,
      models: ["chat", "chat-restart", "chat-strict"],
      workers: opts.workers,
      // Workers stop at their first refused connection; this only bounds them.
      endAt: Date.now() + opts.warmMs + EXIT_TIMEOUT_MS,
      clientTimeoutMs: CLIENT_TIMEOUT_MS,
      seed: opts.seed,
      keyPrefix: "term",
      alwaysKeyed: true,
      duplicates: false,
      stopOnConnectionError: true,
    });
    await sleep(opts.warmMs);
    await within(upstream.whenInFlight(Math.ceil(opts.workers / 2)), EXIT_TIMEOUT_MS, "calls were not in flight");
    inFlightAtSignal = upstream.inFlight();
    signalAt = Date.now();
    child.kill("SIGTERM");
    log(`SIGTERM with ${inFlightAtSignal} upstream calls in flight`);
    const exitCode = await within(exited, EXIT_TIMEOUT_MS, "detour did not exit after SIGTERM");
    await reading;
    const outcomes = await load;

    const accepted = (o: Outcome) => upstream.keys.has(o.key);
    const lost = outcomes.filter((o) => accepted(o) && o.kind !== "success" && o.kind !== "typed_error");
    const refused = outcomes.filter((o) => !accepted(o) && o.kind === "connection_error");
    const counted = outcomes.filter((o) => accepted(o) || o.kind !== "connection_error");
    const t = tally(counted, DEADLINE_MS, GRACE_MS);
    const endedAfterSignal = counted.filter((o) => o.endedAt > signalAt + 50).length;
    const violations = [
      ...tallyViolations(t, counted, DEADLINE_MS, GRACE_MS),
      ...lost.slice(0, 5).map((o) => `accepted request ${o.key} was lost at SIGTERM: ${o.kind} ${o.reason}`),
      ...(exitCode === 0 ? [] : [`detour exited with code ${exitCode} after SIGTERM`]),
      ...(/"forced":0/.test(drainLine) ? [] : [`the drain did not end cleanly: ${drainLine || "no drain log line"}`]),
      ...(inFlightAtSignal > 0 ? [] : ["no call was in flight at SIGTERM: the check proved nothing"]),
      ...(endedAfterSignal > 0 ? [] : ["no accepted request ended after SIGTERM: the drain was not exercised"]),
    ];
    return { tally: t, accepted: outcomes.filter(accepted).length, refused: refused.length, inFlightAtSignal, endedAfterSignal, exitCode, violations };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
}
