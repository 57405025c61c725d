/**
 * `npm run chaos`: the long chaos run. Flags (or env) size it:
 *   --seconds N   load time of the in-process run (CHAOS_SECONDS; default 70)
 *   --workers N   concurrent clients (CHAOS_WORKERS; default 32)
 *   --seed N      fault dice and load mix (CHAOS_SEED; default 1)
 * Prints a table and every violation; exits 1 if there was one.
 */
import { parseArgs } from "node:util";
import { formatReport, runSuite } from "./suite.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string" }, workers: { type: "string" }, seed: { type: "string" } },
  strict: true,
});
const number = (flag: string | undefined, env: string, fallback: number): number => {
  const text = flag ?? process.env[env] ?? "";
  const n = text === "" ? fallback : Number(text);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`${env}: "${text}" is not a positive number`);
  return n;
};

const started = performance.now();
const report = await runSuite({
  durationMs: number(values.seconds, "CHAOS_SECONDS", 70) * 1000,
  workers: number(values.workers, "CHAOS_WORKERS", 32),
  seed: number(values.seed, "CHAOS_SEED", 1),
  log: (line) => console.error(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`),
});
console.log(formatReport(report));
for (const v of report.violations) console.log(`VIOLATION: ${v}`);
console.log(`chaos: ${report.violations.length === 0 ? "passed" : "FAILED"} in ${((performance.now() - started) / 1000).toFixed(1)}s`);
process.exit(report.violations.length === 0 ? 0 : 1);
