/**
 * Per-request ordering of a route's targets: tiers in ascending order; within
 * a tier, a weighted random order (weighted load balancing) or cheapest
 * worst-case cost first. Targets over the cost ceiling are set aside with
 * the reason.
 */
import { TierOrder } from "../../gen/detour/v1/config_pb.js";
import type { Plan, PlannedTarget } from "./plan.ts";

/** Orders the plan's targets for one request. */
export function orderTargets(plan: Plan, random: () => number, worstCost: (t: PlannedTarget) => number | undefined): PlannedTarget[] {
  const tiers = new Map<number, PlannedTarget[]>();
  for (const t of plan.targets) tiers.set(t.tier, [...(tiers.get(t.tier) ?? []), t]);
  const out: PlannedTarget[] = [];
  for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
    const group = tiers.get(tier) ?? [];
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
