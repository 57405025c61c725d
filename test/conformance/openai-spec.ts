/**
 * Validators for the OpenAI API's own schemas, extracted from the official
 * OpenAPI spec (github.com/openai/openai-openapi, openapi.json; the commit is
 * in openai-schemas.json's `source`, refreshed by
 * scripts/extract-openai-schemas.mjs). Not ours to edit: when Detour and
 * the spec disagree, Detour is wrong.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";

interface Extracted {
  readonly source: { readonly repository: string; readonly commit: string };
  readonly schemas: Record<string, object>;
}

/** The extracted schemas and where they came from. */
export const SPEC = JSON.parse(readFileSync(new URL("./openai-schemas.json", import.meta.url), "utf8")) as Extracted;

/**
 * The spec is OpenAPI 3.1 but still marks some schemas with 3.0's
 * `nullable: true`, sometimes beside a `$ref` or an `anyOf` with no `type`,
 * which Ajv cannot read. Its meaning is "this, or null": written as JSON
 * Schema, `anyOf: [this, {type: "null"}]`.
 */
function nullableAsJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableAsJsonSchema);
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (k !== "nullable") out[k] = nullableAsJsonSchema(v);
  return (node as { nullable?: unknown }).nullable === true ? { anyOf: [out, { type: "null" }] } : out;
}

// Formats such as "unixtime" are descriptive only; `discriminator`, `x-*`
// and the like are annotations.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: "openai", components: { schemas: nullableAsJsonSchema(SPEC.schemas) } });

const compiled = new Map<string, ValidateFunction>();

/** Throws, naming every violation, unless `value` is a valid `name` of the spec. */
export function assertSchema(name: string, value: unknown, what = name): void {
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile({ $ref: `openai#/components/schemas/${name}` });
    compiled.set(name, v);
  }
  if (v(value)) return;
  const errors = (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`).join("; ");
  throw new Error(`${what} is not a valid ${name} (openai-openapi ${SPEC.source.commit.slice(0, 12)}): ${errors}\n${JSON.stringify(value).slice(0, 2000)}`);
}
