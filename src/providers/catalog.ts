/**
 * Model lookups: the built-in catalog, overridden by config. A model neither
 * knows is "unknown": plain chat works, but a request that needs a capability
 * (tools, JSON schema, vision, …) is refused with a message saying how to
 * declare it, never guessed.
 */
import { create } from "@bufbuild/protobuf";
import type { ModelConfig } from "../../gen/detour/v1/config_pb.js";
import { CapabilitiesSchema, PricingSchema } from "../../gen/detour/v1/gateway_pb.js";
import { CATALOG, PRICES_AS_OF, type CatalogRow } from "./catalog-data.ts";
import type { ModelEntry } from "./types.ts";

/** Resolves model names of one provider to catalog entries. */
export interface ModelCatalog {
  /** The entry for a model, or undefined if neither catalog nor config knows it. */
  describe(model: string): ModelEntry | undefined;
  /** Models configured for the provider, plus `listed` from the catalog. */
  list(): ModelEntry[];
}

function fromRow(name: string, row: CatalogRow): ModelEntry {
  return {
    name,
    capabilities: create(CapabilitiesSchema, {
      tools: row.tools,
      parallelToolCalls: row.parallel,
      jsonMode: row.jsonMode,
      jsonSchema: row.jsonSchema,
      vision: row.vision,
      streaming: row.streaming,
      contextWindow: row.context,
      maxOutputTokens: row.maxOutput,
      samplingParams: [...row.sampling, ...(row.reasoning ? ["reasoning_effort"] : [])],
      prefill: row.prefill,
    }),
    pricing: create(PricingSchema, {
      inputPerMtok: row.price[0],
      cachedInputPerMtok: row.price[1],
      outputPerMtok: row.price[2],
      asOf: PRICES_AS_OF,
    }),
  };
}

/** Finds a catalog row by exact name, else by the longest base name of a dated snapshot. */
function lookup(model: string): [string, CatalogRow] | undefined {
  const exact = CATALOG[model];
  if (exact) return [model, exact];
  let best: [string, CatalogRow] | undefined;
  for (const [name, row] of Object.entries(CATALOG)) {
    if (model.startsWith(`${name}-`) && /^-(\d{4}-?\d{2}-?\d{2}|latest|\d{8}|preview.*|\d{3})$/.test(model.slice(name.length))) {
      if (!best || name.length > best[0].length) best = [name, row];
    }
  }
  return best;
}

const MEMO_MAX = 1024;

/** Builds the catalog of one provider from its config entries. */
export function createModelCatalog(configured: readonly ModelConfig[], listed: readonly string[] = []): ModelCatalog {
  const overrides = new Map(configured.map((m) => [m.name, m]));
  // Every request asks several times (eligibility, cost, context window, the
  // adapter); the answer never changes for one catalog. Bounded, since model
  // names come from callers.
  const memo = new Map<string, ModelEntry | undefined>();
  const describe = (model: string): ModelEntry | undefined => {
    if (memo.has(model)) return memo.get(model);
    const entry = build(model);
    if (memo.size < MEMO_MAX) memo.set(model, entry);
    return entry;
  };
  const build = (model: string): ModelEntry | undefined => {
    const base = lookup(model);
    const o = overrides.get(model);
    if (!base && !o?.capabilities) return o?.pricing ? { name: model, capabilities: create(CapabilitiesSchema), pricing: o.pricing } : undefined;
    const entry = base ? fromRow(model, base[1]) : { name: model, capabilities: create(CapabilitiesSchema), pricing: create(PricingSchema) };
    return {
      name: model,
      capabilities: o?.capabilities ?? entry.capabilities,
      pricing: o?.pricing ?? entry.pricing,
    };
  };
  return {
    describe,
    list: () => {
      const names = new Set([...configured.map((m) => m.name), ...listed]);
      return [...names].map((n) => describe(n)).filter((e): e is ModelEntry => e !== undefined);
    },
  };
}
