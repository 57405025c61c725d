/**
 * Walks a parsed YAML document along a message descriptor before protobuf's
 * JSON decoder sees it, so that every mistake is reported with its path and a
 * fix: unknown keys get a "did you mean", wrong types say what was expected,
 * and enum values may be written short ("continue" for COMMIT_POLICY_CONTINUE).
 */
import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { apiKeyFix, isSecretPath, withheld } from "./withheld.ts";

/** The result of normalising: the JSON for fromJson, and problems found. */
export interface Normalized {
  json: unknown;
  problems: string[];
}

/** Normalises `value` for `desc`; problems carry the path from `root`. */
export function normalizeForMessage(desc: DescMessage, value: unknown, root = ""): Normalized {
  const problems: string[] = [];
  const json = walkMessage(desc, value, root, problems);
  return { json, problems };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  // A key that is not a plain name (empty, spaced, dotted) is quoted, so the path stays readable.
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === "" ? key : `${path}.${key}`;
}

function walkMessage(desc: DescMessage, value: unknown, path: string, problems: string[]): unknown {
  // google.protobuf.Struct and friends are free-form by design.
  if (desc.typeName.startsWith("google.protobuf.")) return value;
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) {
    const fix = desc.typeName === "detour.v1.ApiKey" ? `; ${apiKeyFix(path)}` : "";
    problems.push(`${path || "(top level)"}: expected a mapping of fields, got ${describe(value, path)}${fix}`);
    return {};
  }
  const out: Record<string, unknown> = {};
  const oneofSeen = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
    // A key under a secret's field may be the secret, written as a mapping by mistake.
    const here = isSecretPath(path) && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}[(a name withheld)]` : join(path, key);
    if (!field) {
      const hint = suggest(key, desc.fields.map((f) => f.name));
      problems.push(`${here}: unknown field${hint ? ` (did you mean "${hint}"?)` : ""}; ${desc.name} has: ${desc.fields.map((f) => f.name).join(", ")}`);
      continue;
    }
    if (field.oneof) {
      const other = oneofSeen.get(field.oneof.name);
      if (other !== undefined) {
        problems.push(`${here}: only one of ${field.oneof.fields.map((f) => f.name).join(", ")} may be set (also set: ${other})`);
        continue;
      }
      oneofSeen.set(field.oneof.name, field.name);
    }
    if (v === null) continue;
    out[field.name] = walkField(field, v, join(path, field.name), problems);
  }
  return out;
}

function walkField(field: DescField, v: unknown, path: string, problems: string[]): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return walkScalar(field.scalar, v, path, problems);
    case "enum":
      return walkEnum(field.enum, v, path, problems);
    case "message":
      return walkMessage(field.message, v, path, problems);
    case "list": {
      if (!Array.isArray(v)) {
        problems.push(`${path}: expected a list, got ${describe(v, path)}`);
        return [];
      }
      return v.map((item, i) => {
        const p = `${path}[${i}]`;
        if (field.listKind === "message") return walkMessage(field.message, item, p, problems);
        if (field.listKind === "enum") return walkEnum(field.enum, item, p, problems);
        return walkScalar(field.scalar, item, p, problems);
      });
    }
    case "map": {
      if (!isRecord(v)) {
        problems.push(`${path}: expected a mapping, got ${describe(v, path)}`);
        return {};
      }
      // fromEntries, not assignment: a "__proto__" key must stay a key, to be checked like any other.
      return Object.fromEntries(
        Object.entries(v).map(([k, item]) => {
          const p = `${path}["${k}"]`;
          if (field.mapKind === "message") return [k, walkMessage(field.message, item, p, problems)];
          if (field.mapKind === "enum") return [k, walkEnum(field.enum, item, p, problems)];
          return [k, walkScalar(field.scalar, item, p, problems)];
        }),
      );
    }
  }
}

function walkScalar(type: ScalarType, v: unknown, path: string, problems: string[]): unknown {
  switch (type) {
    case ScalarType.STRING:
      if (typeof v !== "string") {
        problems.push(`${path}: expected a string, got ${describe(v, path)}${typeof v === "number" && !isSecretPath(path) ? ' (durations need a unit, e.g. "4s")' : ""}`);
      }
      return v;
    case ScalarType.BOOL:
      if (typeof v !== "boolean") problems.push(`${path}: expected true or false, got ${describe(v, path)}`);
      return v;
    case ScalarType.BYTES:
      if (typeof v !== "string") problems.push(`${path}: expected base64 text, got ${describe(v, path)}`);
      return v;
    default: {
      const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isFinite(n)) {
        problems.push(`${path}: expected a number, got ${describe(v, path)}`);
        return 0;
      }
      const range = intRange(type);
      if (!range) return v;
      const [min, max] = range;
      if (!Number.isInteger(n)) problems.push(`${path}: expected a whole number, got ${n}`);
      else if (n < 0 && min === 0) problems.push(`${path}: expected a number ≥ 0, got ${n}`);
      else if (n < min || n > max) problems.push(`${path}: expected a whole number from ${min} to ${max}, got ${n}`);
      // The number, not the text: protobuf's JSON reader refuses some spellings YAML users write (" 12", "0x10").
      return n;
    }
  }
}

/**
 * The values an integer field holds, so that an out-of-range number is
 * reported with its path rather than by protobuf's decoder; 64-bit fields
 * stop where YAML numbers stop being exact.
 */
function intRange(type: ScalarType): readonly [number, number] | undefined {
  switch (type) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return [-(2 ** 31), 2 ** 31 - 1];
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return [0, 2 ** 32 - 1];
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return [0, Number.MAX_SAFE_INTEGER];
    default:
      return undefined;
  }
}

/** The short spelling of an enum value: COMMIT_POLICY_CONTINUE → continue. */
export function shortEnumName(e: DescEnum, fullName: string): string {
  const zero = e.values.find((v) => v.number === 0)?.name ?? "";
  const prefix = zero.endsWith("_UNSPECIFIED") ? zero.slice(0, -"UNSPECIFIED".length) : "";
  const bare = fullName.startsWith(prefix) ? fullName.slice(prefix.length) : fullName;
  return bare.toLowerCase();
}

function walkEnum(e: DescEnum, v: unknown, path: string, problems: string[]): unknown {
  const choices = e.values.filter((x) => x.number !== 0).map((x) => shortEnumName(e, x.name));
  if (typeof v === "string") {
    const wanted = v.trim().toLowerCase().replace(/-/g, "_");
    const hit = e.values.find((x) => x.name.toLowerCase() === wanted || shortEnumName(e, x.name) === wanted);
    if (hit && hit.number !== 0) return hit.name;
  }
  problems.push(`${path}: ${describe(v, path)} is not one of: ${choices.join(", ")}`);
  return 0;
}

/** A bad value as an error shows it: never the value itself where a secret belongs. */
function describe(v: unknown, path: string): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (isSecretPath(path)) return withheld(v);
  if (typeof v === "string") return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

/** The closest known name within a small edit distance, for "did you mean". */
export function suggest(input: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(input.length / 3)) + 1;
  for (const k of known) {
    const d = norm(k).startsWith(norm(input)) || norm(input).startsWith(norm(k)) ? 1 : editDistance(norm(input), norm(k));
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
