/**
 * The whole chaos suite, sized by one duration: the in-process run (fault
 * phases, breakers, memory, idempotency) and the SIGTERM run against the real
 * process. `npm run chaos` runs it long; test/chaos/chaos.test.ts runs it
 * short in CI.
 */
import { runInProcess, type InProcessReport } from "./in-process.ts";
import { runSigterm, type SigtermReport } from "./sigterm.ts";

/** How long and how hard. */
export interface SuiteOptions {
  /** Load time of the in-process run. */
  readonly durationMs: number;
  readonly workers: number;
  readonly seed: number;
  readonly log?: (line: string) => void;
}

/** Both runs' reports and every violation. */
export interface SuiteReport {
  readonly inProcess: InProcessReport;
  readonly sigterm: SigtermReport;
  readonly violations: readonly string[];
}

/** Runs the suite. */
export async function runSuite(opts: SuiteOptions): Promise<SuiteReport> {
  const inProcess = await runInProcess(opts);
  const sigterm = await runSigterm({ workers: opts.workers, seed: opts.seed, warmMs: Math.min(3_000, Math.max(1_000, opts.durationMs / 20)), ...(opts.log ? { log: opts.log } : {}) });
  return {
    inProcess,
    sigterm,
    violations: [...inProcess.violations, ...sigterm.violations.map((v) => `SIGTERM: ${v}`)],
  };
}

/** The report as a markdown table. */
export function formatReport(r: SuiteReport): string {
  const { tally: t } = r.inProcess;
  const s = r.sigterm;
  const reasons = (typed: Record<string, number>) =>
    Object.entries(typed)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  const total = (b: Record<string, number>) => Object.values(b).reduce((x, y) => x + y, 0);
  const faults = Object.entries(r.inProcess.upstream)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const rows: [string, string][] = [
    ["requests", String(t.requests)],
    ["successes", `${t.successes} (${t.replayed} replayed)`],
    ["typed errors", `${total(t.typed)}: ${reasons(t.typed)}`],
    ["callers that went away early (by design)", String(t.cancelled)],
    ["hangs / late / untyped, cut or reset", `${t.hangs} / ${t.late} / ${total(t.broken)}`],
    ["double executions", String(r.inProcess.doubleExecutions.length)],
    ["unhandled rejections", String(r.inProcess.unhandled.length)],
    ["breaker opens / recoveries seen", `${r.inProcess.breakerOpens} / ${r.inProcess.breakerRecoveries}`],
    ["heap before / after load (MB)", `${r.inProcess.heapBeforeMb} / ${r.inProcess.heapAfterMb}`],
    ["upstream calls by behaviour", faults],
    ["SIGTERM: requests accepted / refused", `${s.accepted} / ${s.refused}`],
    ["SIGTERM: in flight at signal / ended after it", `${s.inFlightAtSignal} / ${s.endedAfterSignal}`],
    ["SIGTERM: successes, typed errors", `${s.tally.successes}, ${reasons(s.tally.typed)}`],
    ["SIGTERM: lost / exit code", `${s.tally.hangs + total(s.tally.broken)} / ${s.exitCode}`],
    ["violations", String(r.violations.length)],
  ];
  return ["| check | result |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
}
