/**
 * Prices from the model catalog, and what a given usage costs.
 */
import type { Pricing } from "../../gen/detour/v1/gateway_pb.js";
import type { Usage } from "../../gen/detour/v1/result_pb.js";
import type { Providers } from "../providers/registry.ts";

/** Looks up prices by "provider/model". */
export interface PriceBook {
  pricing(id: string): Pricing | undefined;
  cost(id: string, usage: Usage | undefined): number;
}

/** Builds the price book from every provider's catalog entries. */
export function createPriceBook(providers: Providers): PriceBook {
  const prices = new Map<string, Pricing>();
  for (const p of providers.values()) for (const m of p.models()) prices.set(`${p.name}/${m.name}`, m.pricing);
  return {
    pricing: (id) => prices.get(id),
    cost(id, usage) {
      const p = prices.get(id);
      if (!p || !usage) return 0;
      const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
      const cachedPrice = p.cachedInputPerMtok || p.inputPerMtok;
      return ((usage.inputTokens - cached) * p.inputPerMtok + cached * cachedPrice + usage.outputTokens * p.outputPerMtok) / 1e6;
    },
  };
}
