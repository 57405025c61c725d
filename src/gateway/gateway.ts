/**
 * The engine's front door. Both transports call `stream` or `complete` (the
 * same loop's events folded by collectResponse), so Complete and
 * StreamComplete share one validation, one planner and one attempt loop.
 */
import { randomFillSync } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { ListModelsResponseSchema, type ListModelsResponse } from "../../gen/detour/v1/gateway_pb.js";
import type { CompleteResponse, FinishReason } from "../../gen/detour/v1/result_pb.js";
import { durationOr } from "../config/duration.ts";
import { toGatewayError, wastedUsd, type GatewayError } from "../errors.ts";
import type { Providers } from "../providers/registry.ts";
import { createBreakers, type Breakers } from "../breakers/breakers.ts";
import { runChain, type ChainDeps, type ChainInput } from "./chain.ts";
import { createRetryBudget, type RetryBudget } from "./retry.ts";
import { collectResponse, foldAnswer } from "./collect.ts";
import { createPriceBook } from "./cost.ts";
import type { GatewayBatch, GatewayEvent } from "./events.ts";
import { createPlanner, DEFAULT_RETRY, type Plan } from "./plan.ts";
import { checkModelName, validateRequest } from "./validate.ts";
import { providerOptionsCheck } from "./provider-options.ts";
import { isPriced, quoteRequest, type Quote } from "./quote.ts";
import { idempotent } from "../idempotency/idempotent.ts";
import type { IdempotencyStore } from "../idempotency/store.ts";
import type { Context, Tracer } from "@opentelemetry/api";
import type { GatewayObserver, RequestContent, RequestRecord } from "./observer.ts";
import { inputMessages, outputMessages } from "../telemetry/content.ts";
import { withholdUpstream } from "../upstream-text.ts";
import { defaultTracer, endRequestSpan, startRequestSpan } from "../telemetry/spans.ts";

/** Per-call options from the transport. */
export interface CallOptions {
  /** Aborted when the caller goes away. */
  readonly signal: AbortSignal;
  /** The caller's deadline, relative, in milliseconds; unset uses the route's. */
  readonly timeoutMs?: number | undefined;
  /** The caller's trace context (W3C traceparent), the parent of the request span. */
  readonly trace?: Context | undefined;
  /** The calling key's name: request IDs are remembered per key, never shared between keys. */
  readonly scope?: string | undefined;
}

/** The engine as transports see it. */
export interface Gateway {
  /** Streams the answer's events, in batches; ends with Done or throws a GatewayError. */
  stream(req: CompleteRequest, opts: CallOptions): AsyncGenerator<GatewayBatch>;
  /** Returns the whole answer. */
  complete(req: CompleteRequest, opts: CallOptions): Promise<CompleteResponse>;
  /** Routes and models a caller can name. */
  listModels(): ListModelsResponse;
  /** The compiled routes. */
  routes(): readonly Plan[];
  /** What a request may cost before it runs (for budgets); throws UNKNOWN_MODEL like a call would. */
  quote(req: CompleteRequest, streaming: boolean): Quote;
  /** "provider/model" of the routes' targets that have no known price. */
  unpriced(): string[];
  /** The circuit breakers. */
  readonly breakers: Breakers;
}

/** Collaborators of the gateway; tests pass fakes and a fake clock. */
export interface GatewayDeps {
  readonly providers: Providers;
  readonly breakers?: Breakers;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly newId?: () => string;
  readonly tracer?: Tracer;
  /** Where request IDs are remembered; without one, IDs only label requests. */
  readonly idempotency?: IdempotencyStore;
  /** Told of every request's end: metrics, statistics, logs. */
  readonly observers?: readonly GatewayObserver[];
}

/** Random bytes for 256 IDs, drawn from the CSPRNG at once. */
const idPool = Buffer.allocUnsafe(16 * 256);
let idOffset = idPool.length;

/** "chatcmpl-" (OpenAI's prefix for chat completions) and 32 random hex digits (128 bits, as a UUID's; a fifth of randomUUID's cost, formatted in one call). */
function completionId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const hex = idPool.toString("hex", idOffset, idOffset + 16);
  idOffset += 16;
  return `chatcmpl-${hex}`;
}

/** Default deadline for calls when neither caller nor route sets one. */
export const DEFAULT_DEADLINE_MS = 60_000;

/** The longest deadline a caller may ask for when the config sets none. */
export const DEFAULT_MAX_DEADLINE_MS = 3_600_000;

/** Builds the engine from a validated config. */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? completionId;
  const defaultDeadline = durationOr(config.server?.defaultDeadline ?? "", DEFAULT_DEADLINE_MS);
  // A caller may ask for less time than the route's deadline, never more than max_deadline.
  const maxDeadline = durationOr(config.server?.maxDeadline ?? "", DEFAULT_MAX_DEADLINE_MS);
  const planner = createPlanner(config, deps.providers, defaultDeadline);
  const prices = createPriceBook(deps.providers);
  const checkOptions = providerOptionsCheck(config);
  /** Both transports' requests pass here before any upstream call. */
  const validate = (req: CompleteRequest) => {
    validateRequest(req);
    checkOptions(req);
  };
  const budgets = new Map<string, RetryBudget>();
  const observers = deps.observers ?? [];
  const includeContent = config.telemetry?.includeContent === true;
  // Upstream prose may quote the prompt: telemetry gets it only with include_content.
  const forTelemetry = (message: string) => (includeContent ? message : withholdUpstream(message));
  const chainDeps: ChainDeps = {
    providers: deps.providers,
    includeContent,
    prices,
    now,
    breakers: deps.breakers ?? createBreakers(config.breaker),
    random: deps.random ?? Math.random,
    tracer: deps.tracer ?? defaultTracer(),
    ...(deps.wait ? { wait: deps.wait } : {}),
    budget(route) {
      let b = budgets.get(route);
      if (!b) {
        const policy = planner.routes().find((p) => p.route === route)?.retry ?? DEFAULT_RETRY;
        b = createRetryBudget(policy.budgetMaxTokens, policy.budgetTokenRatio);
        budgets.set(route, b);
      }
      return b;
    },
  };

  // Observers hear of a request after its answer is written: the record is
  // taken when the request ends, and delivered once the current run of
  // microtasks (the transport writing that answer) is over, before any other
  // I/O is handled. A request's statistics and metrics cost nothing on its
  // own latency, and are up to date before the caller can ask for them.
  const told: RequestRecord[] = [];
  const deliver = () => {
    for (let i = 0; i < told.length; i++) {
      const r = told[i]!;
      for (const o of observers) {
        try {
          o.onRequest(r);
        } catch (e) {
          process.emitWarning(`an observer failed on request ${r.id}: ${String(e)}`, "DetourObserverWarning");
        }
      }
    }
    told.length = 0;
  };
  const tell = (r: RequestRecord) => {
    if (observers.length === 0) return;
    if (told.push(r) === 1) process.nextTick(deliver);
  };

  /** The store that guards a request: one is configured and the request names an ID. */
  const storeFor = (req: CompleteRequest): IdempotencyStore | undefined => (req.requestId === "" ? undefined : deps.idempotency);

  function stream(req: CompleteRequest, opts: CallOptions, buffered: boolean): AsyncGenerator<GatewayBatch> {
    const store = storeFor(req);
    return store ? guarded(store, req, opts, buffered) : execute(req, opts, buffered);
  }

  async function* guarded(store: IdempotencyStore, req: CompleteRequest, opts: CallOptions, buffered: boolean): AsyncGenerator<GatewayBatch> {
    try {
      validate(req);
      // Validated above, before the ID is claimed: execute does not validate it again.
      for await (const batch of idempotent(store, req, opts.signal, (r) => execute(r, opts, buffered, true), opts.scope)) {
        for (const ev of batch) if (ev.event.case === "done" && ev.event.value.replayed) for (const o of observers) o.onReplay?.(ev.event.value.route);
        yield batch;
      }
    } catch (e) {
      throw toGatewayError(e);
    }
  }

  /**
   * One request's bookkeeping around the attempt loop: its ID, its span,
   * what the observers are told when it ends, and the error it ends with.
   */
  function track(req: CompleteRequest, opts: CallOptions, buffered: boolean) {
    const id = newId();
    let route = "";
    const startedAt = now();
    const { span, ctx } = startRequestSpan(chainDeps.tracer, route, req.model, !buffered, opts.trace);
    let ended = false;
    // With telemetry.include_content: the answer as it streams, for spans and logs.
    const fold = includeContent ? foldAnswer() : undefined;
    const content = (finish?: FinishReason): RequestContent | undefined =>
      fold && { input: inputMessages(req.messages), output: finish === undefined ? undefined : outputMessages(fold.message(), finish) };
    const observe = (r: Omit<RequestRecord, "id" | "route" | "model" | "streaming" | "latencyMs" | "endedAt" | "traceId" | "spanId">) => {
      const end = now();
      const sc = span.spanContext();
      const record: RequestRecord = { id, route, model: req.model, streaming: !buffered, latencyMs: end - startedAt, endedAt: end, traceId: sc.traceId, spanId: sc.spanId, ...r };
      tell(record);
    };
    return {
      /** Validates (unless `validated`) and plans the request: the attempt loop's input. */
      input(validated: boolean): ChainInput {
        if (!validated) validate(req);
        const plan = planner.plan(req.model);
        route = plan.route;
        span.setAttribute("detour.route", route);
        const deadline = now() + (opts.timeoutMs === undefined ? plan.deadlineMs : Math.min(opts.timeoutMs, maxDeadline));
        return { id, plan, request: req, requestId: req.requestId || id, signal: opts.signal, deadline, buffered, trace: ctx };
      },
      /** Sees every event; the done event ends the span and tells the observers. */
      event(ev: GatewayEvent): void {
        fold?.add(ev);
        if (ev.event.case !== "done") return;
        const d = ev.event.value;
        const c = content(d.finishReason);
        endRequestSpan(span, { attempts: d.attempts, servedBy: d.servedBy, answerUsd: d.cost?.answerUsd ?? 0, wastedUsd: d.cost?.wastedUsd ?? 0, content: c });
        ended = true;
        observe({ outcome: "ok", message: "", attempts: d.attempts, servedBy: d.servedBy, usage: d.usage, answerUsd: d.cost?.answerUsd ?? 0, wastedUsd: d.cost?.wastedUsd ?? 0, content: c });
      },
      /** The request failed: returns the error to throw, recorded. */
      fail(e: unknown): GatewayError {
        const err = toGatewayError(e);
        err.id ||= id;
        if (!ended) {
          const c = content();
          const message = forTelemetry(err.message);
          endRequestSpan(span, { attempts: err.attempts, error: { reason: err.reason, message }, content: c });
          observe({ outcome: err.reason, message, attempts: err.attempts, servedBy: undefined, usage: undefined, answerUsd: 0, wastedUsd: wastedUsd(err), content: c });
        }
        ended = true;
        return err;
      },
      /** The request is over: a consumer that stopped early (client cancel) still ends the span. */
      end(): void {
        if (ended) return;
        const c = content();
        endRequestSpan(span, { attempts: [], error: { reason: "CANCELLED", message: "the caller went away" }, content: c });
        observe({ outcome: "CANCELLED", message: "the caller went away", attempts: [], servedBy: undefined, usage: undefined, answerUsd: 0, wastedUsd: 0, content: c });
      },
    };
  }

  async function* execute(req: CompleteRequest, opts: CallOptions, buffered: boolean, validated = false): AsyncGenerator<GatewayBatch> {
    const t = track(req, opts, buffered);
    try {
      for await (const batch of runChain(t.input(validated), chainDeps)) {
        for (const ev of batch) t.event(ev);
        yield batch;
      }
    } catch (e) {
      throw t.fail(e);
    } finally {
      t.end();
    }
  }

  /** A unary call folds the loop's events itself: one async-generator layer fewer for every event. */
  async function complete(req: CompleteRequest, opts: CallOptions): Promise<CompleteResponse> {
    if (storeFor(req)) return collectResponse(stream(req, opts, true), now);
    const t = track(req, opts, true);
    try {
      return await collectResponse(runChain(t.input(false), chainDeps), now, t.event);
    } catch (e) {
      throw t.fail(e);
    } finally {
      t.end();
    }
  }

  return {
    stream: (req, opts) => stream(req, opts, false),
    complete,
    routes: () => planner.routes(),
    unpriced: () => [...new Set(planner.routes().flatMap((p) => p.targets.map((t) => t.id)))].filter((id) => !isPriced(prices.pricing(id))),
    quote: (req, streaming) => {
      // A budgeted key's quote comes before the request's validation: a name no lookup should see is refused first.
      checkModelName(req.model);
      return quoteRequest(planner.plan(req.model), req, streaming, deps.providers, prices);
    },
    breakers: chainDeps.breakers,
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
