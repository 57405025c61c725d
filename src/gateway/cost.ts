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

/**
 * Builds the price book from what each provider's catalog says of a model,
 * by name: whatever the provider's base URL (a proxy in front of OpenAI
 * charges OpenAI's prices), and a dated snapshot at its family's price.
 * Bounded, since model names come from callers.
 */
export function createPriceBook(providers: Providers): PriceBook {
  const prices = new Map<string, Pricing | undefined>();
  const pricing = (id: string): Pricing | undefined => {
    if (prices.has(id)) return prices.get(id);
    const slash = id.indexOf("/");
    const found = providers.get(id.slice(0, slash))?.describe(id.slice(slash + 1))?.pricing;
    if (prices.size < MEMO_MAX) prices.set(id, found);
    return found;
  };
  return {
    pricing,
    cost(id, usage) {
      const p = pricing(id);
      if (!p || !usage) return 0;
      const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
      const cachedPrice = p.cachedInputPerMtok || p.inputPerMtok;
      return ((usage.inputTokens - cached) * p.inputPerMtok + cached * cachedPrice + usage.outputTokens * p.outputPerMtok) / 1e6;
    },
  };
}

const MEMO_MAX = 4096;
