/**
 * Before the first hop: which of the route's targets may serve this request.
 * Targets are set aside — with the reason, for the attempts trail — when the
 * caller's allow/deny lists exclude their provider, when their model cannot
 * honour the request, or when their worst-case cost is over the ceiling.
 * When none is left the request fails fast, listing every target and why.
 */
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { GatewayError, invalidRequest, type Reason } from "../errors.ts";
import type { Providers } from "../providers/registry.ts";
import { mismatch, needsOf, type Needs } from "./capabilities.ts";
import type { PriceBook } from "./cost.ts";
import { requestFor, type Plan, type PlannedTarget } from "./plan.ts";

/** A target set aside before the first hop. */
export interface SetAside {
  readonly target: PlannedTarget;
  readonly reason: Reason;
  readonly why: string;
}

/** The targets that may serve the request, in order, and those set aside. */
export interface Eligibility {
  readonly candidates: PlannedTarget[];
  readonly setAside: SetAside[];
  readonly needs: Needs;
}

/** Worst-case cost of a request on a target: the whole prompt plus the most output it may produce. */
export function worstCaseCost(t: PlannedTarget, needs: Needs, providers: Providers, prices: PriceBook): number | undefined {
  const pricing = prices.pricing(t.id);
  if (!pricing) return undefined;
  const caps = providers.get(t.ref.provider)?.describe(t.ref.model)?.capabilities;
  const maxOut = needs.maxOutputTokens || caps?.maxOutputTokens || 4096;
  return (needs.inputTokens * pricing.inputPerMtok + maxOut * pricing.outputPerMtok) / 1e6;
}

/** Filters the ordered targets for one request. */
export function eligibleTargets(
  ordered: readonly PlannedTarget[],
  plan: Plan,
  req: CompleteRequest,
  streaming: boolean,
  providers: Providers,
  prices: PriceBook,
): Eligibility {
  const needs = needsOf(req, streaming);
  const allow = req.routing?.allowProviders ?? [];
  const deny = req.routing?.denyProviders ?? [];
  const ceilings = [plan.maxCostUsd, req.routing?.maxCostUsd].filter((c): c is number => c !== undefined);
  const ceiling = ceilings.length > 0 ? Math.min(...ceilings) : undefined;
  const candidates: PlannedTarget[] = [];
  const setAside: SetAside[] = [];
  const byCaller = ordered.filter((t) => (allow.length === 0 || allow.includes(t.ref.provider)) && !deny.includes(t.ref.provider));
  if (byCaller.length === 0) {
    throw invalidRequest("routing", `allow_providers/deny_providers leave none of the route's targets (${ordered.map((t) => t.id).join(", ")})`);
  }
  for (const t of byCaller) {
    const provider = providers.get(t.ref.provider);
    // A target's own sampling overrides are part of what it must honour.
    const own = t.sampling ? needsOf(requestFor(req, t), streaming) : needs;
    const unfit = provider ? mismatch(t.id, provider.describe(t.ref.model), own) : `no provider named "${t.ref.provider}"`;
    if (unfit) {
      setAside.push({ target: t, reason: "CAPABILITY_MISMATCH", why: unfit });
      continue;
    }
    if (ceiling !== undefined) {
      const cost = worstCaseCost(t, needs, providers, prices);
      if (cost === undefined || cost > ceiling) {
        const why = cost === undefined
          ? `${t.id} has no known price, so its cost cannot be held under ${ceiling} USD`
          : `${t.id} may cost up to ${cost.toFixed(6)} USD, over the ceiling of ${ceiling} USD`;
        setAside.push({ target: t, reason: "COST_LIMIT", why });
        continue;
      }
    }
    candidates.push(t);
  }
  return { candidates, setAside, needs };
}

/** The error when no target is left: every target and why it was set aside. */
export function noCandidates(setAside: readonly SetAside[]): GatewayError {
  const reason: Reason = setAside.every((s) => s.reason === "COST_LIMIT") ? "COST_LIMIT" : "CAPABILITY_MISMATCH";
  return new GatewayError(reason, `no target can serve this request: ${setAside.map((s) => s.why).join("; ")}`);
}
