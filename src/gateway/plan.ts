/**
 * Planning: resolves CompleteRequest.model — a route name or "provider/model"
 * — to the ordered chain of targets the attempt loop walks. Routes are
 * compiled once, when the gateway is built, with their durations parsed.
 */
import { create } from "@bufbuild/protobuf";
import { CommitPolicy, SamplingSchema, type CompleteRequest, type Sampling } from "../../gen/detour/v1/chat_pb.js";
import { ErrorAction, TierOrder, type Config, type RouteConfig } from "../../gen/detour/v1/config_pb.js";
import { TargetRefSchema, type TargetRef } from "../../gen/detour/v1/result_pb.js";
import { durationOr } from "../config/duration.ts";
import { GatewayError, type Action } from "../errors.ts";
import type { Providers } from "../providers/registry.ts";
import { createDirectModels } from "./direct-models.ts";

/** One step of a chain, with its limits in milliseconds (0: none). */
export interface PlannedTarget {
  readonly ref: TargetRef;
  /** "provider/model". */
  readonly id: string;
  readonly ttftTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly interTokenTimeoutMs: number;
  readonly retries: number;
  readonly sampling: Sampling | undefined;
  /** Share of traffic within its tier. */
  readonly weight: number;
  /** Tiers are tried in ascending order. */
  readonly tier: number;
}

/** The route's retry and fallback policy. */
export interface RetryPolicy {
  /** Overrides of the default decision table, by reason. */
  readonly onError: ReadonlyMap<string, Action>;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly budgetMaxTokens: number;
  readonly budgetTokenRatio: number;
}

/** A resolved chain. */
export interface Plan {
  /** The route's name, or "" for a direct "provider/model" call. */
  readonly route: string;
  /** What the route is for. */
  readonly description: string;
  readonly targets: readonly PlannedTarget[];
  /** The chain's deadline when the caller sets none, in milliseconds. */
  readonly deadlineMs: number;
  readonly commitPolicy: CommitPolicy;
  /** Most attempts, retries included. */
  readonly maxHops: number;
  /** Time kept back for the targets after the current one. */
  readonly minSliceMs: number;
  readonly hedging: boolean;
  readonly maxCostUsd: number | undefined;
  readonly tierOrder: TierOrder;
  readonly retry: RetryPolicy;
  /** Stream output held back before committing: tokens and milliseconds (0: none). */
  readonly commitBuffer: { readonly tokens: number; readonly ms: number };
}

const ACTIONS: Record<number, Action> = {
  [ErrorAction.RETRY]: "retry",
  [ErrorAction.FALLBACK]: "fallback",
  [ErrorAction.FAIL]: "fail",
};

/** The retry policy of a direct call and of routes that set none. */
export const DEFAULT_RETRY: RetryPolicy = {
  onError: new Map(),
  backoffBaseMs: 250,
  backoffMaxMs: 5_000,
  budgetMaxTokens: 10,
  budgetTokenRatio: 0.1,
};

/** Resolves model names to plans. */
export interface Planner {
  plan(model: string): Plan;
  routes(): readonly Plan[];
}

/** Compiles the config's routes; `defaultDeadlineMs` applies where a route sets none. */
export function createPlanner(config: Config, providers: Providers, defaultDeadlineMs: number): Planner {
  const routes = new Map<string, Plan>();
  for (const r of config.routes) routes.set(r.name, compileRoute(r, defaultDeadlineMs));
  const direct = createDirectModels(config, providers);

  return {
    routes: () => [...routes.values()],
    plan(model) {
      const route = routes.get(model);
      if (route) return route;
      const slash = model.indexOf("/");
      const provider = slash > 0 ? providers.get(model.slice(0, slash)) : undefined;
      if (provider && slash < model.length - 1) {
        direct.check(provider.name, model.slice(slash + 1));
        const target = directTarget(provider.name, model.slice(slash + 1));
        return {
          route: "",
          description: "",
          targets: [target],
          deadlineMs: defaultDeadlineMs,
          commitPolicy: CommitPolicy.FAIL,
          maxHops: 1,
          minSliceMs: 0,
          hedging: false,
          maxCostUsd: undefined,
          tierOrder: TierOrder.WEIGHTED,
          retry: DEFAULT_RETRY,
          commitBuffer: { tokens: 0, ms: 0 },
        };
      }
      const known = [...routes.keys()].join(", ") || "none";
      const provs = [...providers.keys()].map((p) => `${p}/<model>`).join(", ") || "none";
      throw new GatewayError(
        "UNKNOWN_MODEL",
        `model: no route or provider named "${model}"; use a route (${known}) or a provider/model (${provs})`,
        { field: "model" },
      );
    },
  };
}

function compileRoute(r: RouteConfig, defaultDeadlineMs: number): Plan {
  const targets = r.targets.map((t, i): PlannedTarget => {
      const slash = t.model.indexOf("/");
      return {
        ref: create(TargetRefSchema, { provider: t.model.slice(0, slash), model: t.model.slice(slash + 1) }),
        id: t.model,
        ttftTimeoutMs: durationOr(t.ttftTimeout, 0),
        totalTimeoutMs: durationOr(t.totalTimeout, 0),
        interTokenTimeoutMs: durationOr(t.interTokenTimeout, 0),
        retries: t.retries,
        sampling: t.sampling,
        weight: t.weight || 1,
        tier: t.tier ?? i,
      };
    });
  const budget = r.retryBudget;
  return {
    route: r.name,
    description: r.description,
    deadlineMs: durationOr(r.deadline, defaultDeadlineMs),
    commitPolicy: r.commitPolicy === CommitPolicy.UNSPECIFIED ? CommitPolicy.CONTINUE : r.commitPolicy,
    targets,
    maxHops: r.maxHops || targets.reduce((n, t) => n + 1 + t.retries, 0),
    minSliceMs: durationOr(r.minSlice, 1_000),
    hedging: r.hedging,
    maxCostUsd: r.maxCostUsd,
    tierOrder: r.tierOrder === TierOrder.UNSPECIFIED ? TierOrder.WEIGHTED : r.tierOrder,
    commitBuffer: { tokens: r.commitBuffer?.tokens ?? 0, ms: durationOr(r.commitBuffer?.duration ?? "", 0) },
    retry: {
      onError: new Map(Object.entries(r.onError).flatMap(([k, v]) => (ACTIONS[v] ? [[k, ACTIONS[v] as Action]] : []))),
      backoffBaseMs: durationOr(r.backoff?.base ?? "", DEFAULT_RETRY.backoffBaseMs),
      backoffMaxMs: durationOr(r.backoff?.max ?? "", DEFAULT_RETRY.backoffMaxMs),
      budgetMaxTokens: budget?.maxTokens || DEFAULT_RETRY.budgetMaxTokens,
      budgetTokenRatio: budget?.tokenRatio || DEFAULT_RETRY.budgetTokenRatio,
    },
  };
}

function directTarget(provider: string, model: string): PlannedTarget {
  return {
    ref: create(TargetRefSchema, { provider, model }),
    id: `${provider}/${model}`,
    ttftTimeoutMs: 0,
    totalTimeoutMs: 0,
    interTokenTimeoutMs: 0,
    retries: 0,
    sampling: undefined,
    weight: 1,
    tier: 0,
  };
}

/** The request as a target sends it: the target's sampling overrides applied. */
export function requestFor(req: CompleteRequest, target: PlannedTarget): CompleteRequest {
  const o = target.sampling;
  if (!o) return req;
  const s = create(SamplingSchema, req.sampling ?? {});
  if (o.temperature !== undefined) s.temperature = o.temperature;
  if (o.topP !== undefined) s.topP = o.topP;
  if (o.maxOutputTokens !== undefined) s.maxOutputTokens = o.maxOutputTokens;
  if (o.stop.length > 0) s.stop = o.stop;
  if (o.seed !== undefined) s.seed = o.seed;
  if (o.presencePenalty !== undefined) s.presencePenalty = o.presencePenalty;
  if (o.frequencyPenalty !== undefined) s.frequencyPenalty = o.frequencyPenalty;
  if (o.topK !== undefined) s.topK = o.topK;
  if (o.reasoningEffort) s.reasoningEffort = o.reasoningEffort;
  return { ...req, sampling: s };
}
