/**
 * The engine's front door. Both transports call `stream` (the unary path
 * folds it with collectResponse), so Complete and StreamComplete share one
 * validation, one planner and one attempt loop.
 */
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { ListModelsResponseSchema, type ListModelsResponse } from "../../gen/detour/v1/gateway_pb.js";
import type { CompleteResponse } from "../../gen/detour/v1/result_pb.js";
import { durationOr } from "../config/duration.js";
import { toGatewayError } from "../errors.js";
import type { Providers } from "../providers/registry.js";
import { runChain } from "./chain.js";
import { collectResponse } from "./collect.js";
import { createPriceBook } from "./cost.js";
import type { GatewayEvent } from "./events.js";
import { createPlanner, type Plan } from "./plan.js";
import { validateRequest } from "./validate.js";

/** Per-call options from the transport. */
export interface CallOptions {
  /** Aborted when the caller goes away. */
  readonly signal: AbortSignal;
  /** The caller's deadline, relative, in milliseconds; unset uses the route's. */
  readonly timeoutMs?: number | undefined;
}

/** The engine as transports see it. */
export interface Gateway {
  /** Streams the answer's events; ends with Done or throws a GatewayError. */
  stream(req: CompleteRequest, opts: CallOptions): AsyncGenerator<GatewayEvent>;
  /** Returns the whole answer. */
  complete(req: CompleteRequest, opts: CallOptions): Promise<CompleteResponse>;
  /** Routes and models a caller can name. */
  listModels(): ListModelsResponse;
  /** The compiled routes. */
  routes(): readonly Plan[];
}

/** Collaborators of the gateway; tests pass fakes and a fake clock. */
export interface GatewayDeps {
  readonly providers: Providers;
  readonly now?: () => number;
  readonly newId?: () => string;
}

/** Default deadline for calls when neither caller nor route sets one. */
export const DEFAULT_DEADLINE_MS = 60_000;

/** Builds the engine from a validated config. */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => `cmpl-${randomUUID().replace(/-/g, "")}`);
  const defaultDeadline = durationOr(config.server?.defaultDeadline ?? "", DEFAULT_DEADLINE_MS);
  const planner = createPlanner(config, deps.providers, defaultDeadline);
  const prices = createPriceBook(deps.providers);
  const chainDeps = { providers: deps.providers, prices, now };

  async function* stream(req: CompleteRequest, opts: CallOptions, buffered: boolean): AsyncGenerator<GatewayEvent> {
    const id = newId();
    try {
      validateRequest(req);
      const plan = planner.plan(req.model);
      const deadline = now() + (opts.timeoutMs ?? plan.deadlineMs);
      yield* runChain({ id, plan, request: req, requestId: req.requestId || id, signal: opts.signal, deadline, buffered }, chainDeps);
    } catch (e) {
      const err = toGatewayError(e);
      err.id ||= id;
      throw err;
    }
  }

  return {
    stream: (req, opts) => stream(req, opts, false),
    complete: (req, opts) => collectResponse(stream(req, opts, true), now),
    routes: () => planner.routes(),
    listModels() {
      return create(ListModelsResponseSchema, {
        routes: planner.routes().map((p) => ({ name: p.route, description: p.description, targets: p.targets.map((t) => t.ref) })),
        models: [...deps.providers.values()].flatMap((p) =>
          p.models().map((m) => ({
            id: `${p.name}/${m.name}`,
            target: { provider: p.name, model: m.name },
            capabilities: m.capabilities,
            pricing: m.pricing,
          })),
        ),
      });
    },
  };
}
