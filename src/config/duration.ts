/**
 * Config durations: strings such as "250ms", "4s", "1m30s", "1.5s". Parsed
 * once when a component is built, never per request.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;

/** Parses a duration string to milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  if (text === "") throw new Error('empty duration: write e.g. "500ms", "4s" or "1m30s"');
  PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    end = PART.lastIndex;
  }
  if (end !== text.length) {
    throw new Error(`invalid duration "${text}": write e.g. "500ms", "4s" or "1m30s"`);
  }
  return total;
}

/** Parses an optional duration: "" gives the fallback. */
export function durationOr(text: string, fallbackMs: number): number {
  return text === "" ? fallbackMs : parseDuration(text);
}

/** Formats milliseconds the way config files write them. */
export function formatDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The longest delay setTimeout honours; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
