#!/usr/bin/env node
/**
 * Extracts the schemas the conformance tests validate against from the
 * official OpenAI OpenAPI spec (github.com/openai/openai-openapi), with every
 * schema they reference, into test/conformance/openai-schemas.json, together
 * with the commit they came from.
 *
 *   node scripts/extract-openai-schemas.mjs <checkout-dir> <commit>
 *
 * The checkout is read as it is; nothing is fetched.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";

const [dir, commit] = process.argv.slice(2);
if (!dir || !commit) {
  process.stderr.write("usage: node scripts/extract-openai-schemas.mjs <openai-openapi git dir> <commit>\n");
  process.exit(2);
}
const spec = JSON.parse(execFileSync("git", ["--git-dir", dir, "show", `${commit}:openapi.json`], { maxBuffer: 64 << 20 }).toString());
const all = spec.components.schemas;
const ROOTS = ["CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ErrorResponse", "ListModelsResponse", "Model"];
const keep = {};
const visit = (node) => {
  if (Array.isArray(node)) return node.forEach(visit);
  if (!node || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string") {
      const name = v.replace("#/components/schemas/", "");
      if (!(name in keep)) {
        keep[name] = all[name];
        visit(all[name]);
      }
    } else visit(v);
  }
};
for (const r of ROOTS) {
  keep[r] = all[r];
  visit(all[r]);
}
const out = {
  source: { repository: "github.com/openai/openai-openapi", commit, path: "openapi.json", openapi: spec.openapi, version: spec.info.version },
  roots: ROOTS,
  schemas: Object.fromEntries(Object.keys(keep).sort().map((k) => [k, keep[k]])),
};
writeFileSync(new URL("../test/conformance/openai-schemas.json", import.meta.url), `${JSON.stringify(out, null, 1)}\n`);
process.stdout.write(`${Object.keys(keep).length} schemas from ${commit}\n`);
