/**
 * Property tests of the JSON pre-scan: on any JSON, whitespace and escapes
 * included, it finds a limited list over its limit exactly when the parsed
 * value has one, and on any bytes it returns rather than throws.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { namedShape } from "../../src/server/body-shape.js";
import { prescanJson } from "../../src/server/json-prescan.js";

const SEED = 20_251_208;
const SHAPE = namedShape({
  items: { path: "items", maxItems: 3 },
  nested: { path: "nested", shape: namedShape({ items: { path: "nested.items", maxItems: 2 } }) },
});

/** What the scan should find, from the parsed value. */
function expected(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  // The scan reads fields in order; JSON.parse keeps the last of a repeated key, so the arbitrary below never repeats one.
  for (const [k, x] of Object.entries(o)) {
    if (k === "items" && Array.isArray(x) && x.length > 3) return "items";
    if (k === "nested" && typeof x === "object" && x !== null && !Array.isArray(x)) {
      const inner = (x as Record<string, unknown>)["items"];
      if (Array.isArray(inner) && inner.length > 2) return "nested.items";
    }
  }
  return undefined;
}

const list = fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 });
const body = fc.record(
  { items: list, nested: fc.record({ items: list, other: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }), other: fc.jsonValue({ maxDepth: 3 }) },
  { requiredKeys: [] },
);

test("finds a list over its limit exactly when the parsed body has one", () => {
  fc.assert(
    fc.property(body, fc.boolean(), fc.boolean(), (v, spaced, escaped) => {
      let text = JSON.stringify(v, null, spaced ? 2 : undefined);
      // An escaped key is the same key to JSON.parse, and must be to the scan.
      if (escaped) text = text.replaceAll('"items"', '"it\\u0065ms"');
      assert.equal(expected(JSON.parse(text)), expected(v));
      assert.equal(prescanJson(Buffer.from(text), SHAPE)?.field, expected(v), text);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test("returns on any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      prescanJson(bytes, SHAPE);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});
