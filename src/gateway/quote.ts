/**
 * What a request may cost before it runs, for budgets that must hold before
 * the first upstream call: the worst case over the route's targets (the
 * whole prompt and the most output any of them may produce), and which
 * targets have no price to count with.
 */
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Pricing } from "../../gen/detour/v1/gateway_pb.js";
import type { Providers } from "../providers/registry.ts";
import { needsOf } from "./capabilities.ts";
import type { PriceBook } from "./cost.ts";
import { worstCaseCost } from "./eligibility.ts";
import type { Plan } from "./plan.ts";

/** A request's cost before it runs. */
export interface Quote {
  /** The most one answer may cost, in US dollars, on the dearest priced target. */
  readonly worstCaseUsd: number;
  /** "provider/model" of the targets without a price. */
  readonly unpriced: readonly string[];
}

/**
 * True when a model has a price to count with: a non-zero rate, or rates
 * given as of a date (a model declared free, as the simulated ones are).
 * A model the catalog does not know has neither.
 */
export function isPriced(p: Pricing | undefined): boolean {
  return p !== undefined && (p.inputPerMtok > 0 || p.outputPerMtok > 0 || p.cachedInputPerMtok > 0 || p.asOf !== "");
}

/** Quotes a planned request. */
export function quoteRequest(plan: Plan, req: CompleteRequest, streaming: boolean, providers: Providers, prices: PriceBook): Quote {
  const needs = needsOf(req, streaming);
  let worst = 0;
  const unpriced: string[] = [];
  for (const t of plan.targets) {
    const cost = isPriced(prices.pricing(t.id)) ? worstCaseCost(t, needs, providers, prices) : undefined;
    if (cost === undefined) unpriced.push(t.id);
    else worst = Math.max(worst, cost);
  }
  return { worstCaseUsd: worst, unpriced };
}
