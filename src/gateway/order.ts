/**
 * Per-request ordering of a route's targets: tiers in ascending order; within
 * a tier, a weighted random order (weighted load balancing) or cheapest
 * worst-case cost first. Targets over the cost ceiling are set aside with
 * the reason.
 */
import { TierOrder } from "../../gen/detour/v1/config_pb.js";
import type { Plan, PlannedTarget } from "./plan.ts";

/** A plan's targets grouped by tier, tiers ascending, and their one order when no tier has two. */
interface Tiers {
  readonly groups: readonly (readonly PlannedTarget[])[];
  readonly fixed: readonly PlannedTarget[] | undefined;
}

/** Worked out once per plan, not per request. */
const tiersByPlan = new WeakMap<Plan, Tiers>();

function tiersOf(plan: Plan): Tiers {
  let tiers = tiersByPlan.get(plan);
  if (!tiers) {
    const byTier = new Map<number, PlannedTarget[]>();
    for (const t of plan.targets) byTier.set(t.tier, [...(byTier.get(t.tier) ?? []), t]);
    const groups = [...byTier.keys()].sort((a, b) => a - b).map((k) => byTier.get(k) ?? []);
    tiers = { groups, fixed: groups.every((g) => g.length === 1) ? groups.flat() : undefined };
    tiersByPlan.set(plan, tiers);
  }
  return tiers;
}

/** Orders the plan's targets for one request. */
export function orderTargets(plan: Plan, random: () => number, worstCost: (t: PlannedTarget) => number | undefined): readonly PlannedTarget[] {
  // One target (a direct provider/model, whose plan is made per request): nothing to order or cache.
  if (plan.targets.length === 1) return plan.targets;
  const { groups, fixed } = tiersOf(plan);
  if (fixed) return fixed;
  const out: PlannedTarget[] = [];
  for (const group of groups) {
    if (group.length === 1) out.push(...group);
    else if (plan.tierOrder === TierOrder.COST) {
      out.push(...group.map((t) => [t, worstCost(t) ?? Infinity] as const).sort((a, b) => a[1] - b[1]).map(([t]) => t));
    } else out.push(...weightedOrder(group, random));
  }
  return out;
}

/** Weighted sampling without replacement (Efraimidis–Spirakis keys). */
function weightedOrder(group: readonly PlannedTarget[], random: () => number): PlannedTarget[] {
  return group
    .map((t) => ({ t, key: Math.pow(random(), 1 / t.weight) }))
    .sort((a, b) => b.key - a.key)
    .map(({ t }) => t);
}
