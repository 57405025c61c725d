/**
 * Paths into JSON values, for properties that change one field and check
 * that the error names it, and deeply nested JSON text.
 */

/** A JSON object as JSON.parse returns it. */
export type Json = Record<string, unknown>;

/** A path into a JSON value: object keys and array indices. */
export type Path = readonly (string | number)[];

/** The decoder's spelling of a path: `messages[0].content[1].type`. */
export function fieldName(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Every path in `v`, the root excluded. */
export function pathsOf(v: unknown, prefix: Path = []): Path[] {
  if (typeof v !== "object" || v === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  return entries.flatMap(([k, x]) => [[...prefix, k], ...pathsOf(x, [...prefix, k])]);
}

/** A deep copy of `root` with the value at `path` replaced, or removed when `value` is undefined. */
export function withValue(root: Json, path: Path, value: unknown): Json {
  const copy = structuredClone(root);
  let at: Record<string | number, unknown> = copy;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined && !Array.isArray(at)) delete at[last];
  else at[last] = value === undefined ? null : value;
  return copy;
}

/** True when one path is the other or contains it: `tools[0]` and `tools[0].function.name`. */
export function related(a: string, b: string): boolean {
  const within = (x: string, y: string) => x === y || x.startsWith(`${y}.`) || x.startsWith(`${y}[`);
  return within(a, b) || within(b, a);
}

/** `depth` nested arrays around a value, built as text so no recursion is needed to make it. */
export function nestedArrays(depth: number, inner = "1"): string {
  return "[".repeat(depth) + inner + "]".repeat(depth);
}

/** `depth` nested objects `{"a": …}` around a value, as text. */
export function nestedObjects(depth: number, inner = "1"): string {
  return '{"a":'.repeat(depth) + inner + "}".repeat(depth);
}
