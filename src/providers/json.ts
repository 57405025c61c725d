/**
 * Narrowing helpers for vendor JSON, which arrives as `unknown` and may carry
 * fields we do not know: read what we need, ignore the rest, never trust types.
 */

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** The value as an object, or undefined. */
export function obj(v: unknown): Obj | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

/** The value as an array, or []. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The value as a finite number, or 0. */
export function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/** A string (or number, as text) property of an object, or undefined. */
export function str(v: unknown, key: string): string | undefined {
  const x = obj(v)?.[key];
  return typeof x === "string" ? x : typeof x === "number" ? String(x) : undefined;
}

/** Parses JSON text leniently: anything but an object yields {}. */
export function parseObject(text: string): Obj {
  try {
    return obj(JSON.parse(text)) ?? {};
  } catch {
    return {};
  }
}
