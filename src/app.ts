/**
 * The composition root: builds providers, the engine and the server from a
 * validated config. main.ts only parses flags and calls this; tests call it
 * directly with fakes.
 */
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Config } from "../gen/detour/v1/config_pb.js";
import { durationOr } from "./config/duration.ts";
import { createGateway, DEFAULT_MAX_DEADLINE_MS, type Gateway } from "./gateway/gateway.ts";
import { createProviders, type ProviderDeps, type Providers } from "./providers/registry.ts";
import { connectRoutes, SERVICES } from "./server/connect-routes.ts";
import { createHealthState, type HealthState } from "./server/health.ts";
import { httpRoutes } from "./server/http-routes.ts";
import { dashboardRoutes } from "./server/dashboard.ts";
import { createListener, listenerOptions } from "./server/listener.ts";
import { capDeadlines } from "./server/max-deadline.ts";
import { bindHost } from "./server/bind-host.ts";
import { browserGuard } from "./server/browser-guard.ts";
import { watchAuthFailures } from "./server/auth-failures.ts";
import { metricsRoute } from "./server/metrics-route.ts";
import { authInterceptor } from "./server/auth-interceptor.ts";
import { binaryProblemInterceptor, guardBinaryBodies } from "./server/binary-guard.ts";
import { createAuth, swappableAuth, type Auth } from "./server/auth.ts";
import { createBudgets, type Budgets } from "./server/budgets.ts";
import { createReloadable, type Generation } from "./gateway/reloadable.ts";
import type { Breakers } from "./breakers/breakers.ts";
import { create, toJsonString } from "@bufbuild/protobuf";
import { BreakerConfigSchema } from "../gen/detour/v1/config_pb.js";
import { openaiHandler } from "./server/openai/handler.ts";
import { createLogger, type Logger } from "./telemetry/log.ts";
import { createMemoryStore } from "./idempotency/memory.ts";
import { createRedisStore } from "./idempotency/redis.ts";
import type { IdempotencyStore } from "./idempotency/store.ts";
import type { Tracer } from "@opentelemetry/api";
import { createStats } from "./stats/stats.ts";
import { metricsObserver } from "./telemetry/metrics.ts";
import { requestLogObserver } from "./telemetry/request-log.ts";
import type { Telemetry } from "./telemetry/sdk.ts";

/** A built, not yet listening, Detour. */
export interface App {
  readonly gateway: Gateway;
  readonly health: HealthState;
  readonly logger: Logger;
  /** Gateway keys; open when none are configured. */
  readonly auth: Auth;
  /** Listens on the given or configured port and host. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Replaces the config at once, or throws and keeps the old one. */
  reload(config: Config): void;
  /** Turns NOT_SERVING, drains in-flight calls, closes. */
  shutdown(): Promise<void>;
}

/** Collaborators tests may replace. */
export interface AppDeps {
  readonly logger?: Logger;
  readonly providers?: Providers;
  readonly providerDeps?: ProviderDeps;
  readonly now?: () => number;
  readonly idempotency?: IdempotencyStore;
  /** Metrics and the Prometheus handler, from telemetry/sdk.ts. */
  readonly telemetry?: Pick<Telemetry, "meter" | "histograms" | "metricsHandler">;
  readonly tracer?: Tracer;
}

/** Defaults for server settings left unset (an open gateway's host is loopback: server/bind-host.ts). */
export const SERVER_DEFAULTS = {
  host: "0.0.0.0",
  port: 8080,
  drainTimeoutMs: 10_000,
  maxRequestBytes: 8 * 1024 * 1024,
} as const;

/** Builds Detour from a validated config. */
export function buildApp(config: Config, deps: AppDeps = {}): App {
  const logger = deps.logger ?? createLogger(config.telemetry?.logLevel ?? "info");
  const providers = deps.providers ?? createProviders(config, deps.providerDeps);
  const idem = config.idempotency;
  const ttlMs = durationOr(idem?.ttl ?? "", 24 * 3_600_000);
  const idempotency =
    deps.idempotency ??
    (idem?.redisUrl
      ? createRedisStore({ url: idem.redisUrl, ttlMs })
      : createMemoryStore({ ttlMs, maxBytes: Number(idem?.maxBytes || 64n * 1024n * 1024n) }));
  const stats = createStats();
  let breakersRef: Gateway["breakers"] | undefined;
  const observers = [
    stats,
    requestLogObserver(logger),
    ...(deps.telemetry ? [metricsObserver(deps.telemetry.meter, deps.telemetry.histograms, () => breakersRef as Gateway["breakers"])] : []),
  ];
  const build = (cfg: Config, prov: Providers, breakers?: Breakers): Generation => ({
    providers: prov,
    gateway: createGateway(cfg, { providers: prov, idempotency, observers, ...(breakers ? { breakers } : {}), ...(deps.now ? { now: deps.now } : {}), ...(deps.tracer ? { tracer: deps.tracer } : {}) }),
  });
  const reloadable = createReloadable(build(config, providers));
  const gateway = reloadable.gateway;
  breakersRef = gateway.breakers;
  let active = config;
  const health = createHealthState(SERVICES.map((s) => s.typeName));
  const shutdown = new AbortController();
  const server = config.server;
  const maxBytes = server?.maxRequestBytes || SERVER_DEFAULTS.maxRequestBytes;
  const auth = watchAuthFailures(swappableAuth(createAuth(config.keys, config.routes)), { logger, ...(deps.telemetry ? { meter: deps.telemetry.meter } : {}) });
  // One set of counters for the process: a reload swaps the limits, never
  // what was spent (a new idempotency.redis_url takes a restart).
  const budgets: Budgets = createBudgets(config.keys, config.idempotency?.redisUrl ?? "", logger);
  const connect = connectNodeAdapter({
    routes: (router) => {
      connectRoutes(gateway, health, auth, stats, budgets)(router);
      guardBinaryBodies(router, maxBytes);
    },
    interceptors: [binaryProblemInterceptor, authInterceptor(auth)],
    readMaxBytes: maxBytes,
    // A misspelt field or enum value must be an error naming it, never a
    // silently dropped parameter.
    jsonOptions: { ignoreUnknownFields: false },
    shutdownSignal: shutdown.signal,
  });
  let draining = false;
  const openai = openaiHandler({ gateway, auth, maxBodyBytes: maxBytes, stats, budgets });
  let boundPort: number | undefined;
  const guard = browserGuard({
    allowedOrigins: () => active.server?.cors?.allowedOrigins ?? [],
    loopbackOnly: () => !auth.enabled && active.server?.openPublic !== true,
    port: () => boundPort,
  });
  const listener = createListener(
    httpRoutes({
      connect: capDeadlines(connect, durationOr(server?.maxDeadline ?? "", DEFAULT_MAX_DEADLINE_MS)),
      openai,
      health,
      guard,
      draining: () => draining,
      dashboard: dashboardRoutes({ enabled: () => active.server?.dashboard === true }),
      ...(deps.telemetry ? { metrics: metricsRoute({ handler: deps.telemetry.metricsHandler, auth, requireAdmin: () => active.telemetry?.metricsRequireAdmin === true }) } : {}),
    }),
    listenerOptions(server),
  );

  return {
    gateway,
    health,
    logger,
    auth,
    async listen(port, host) {
      const bind = bindHost({ requested: host ?? server?.host, open: !auth.enabled, openPublic: server?.openPublic === true, keyedDefault: SERVER_DEFAULTS.host });
      if (bind.overridden) {
        logger.warn(`NO GATEWAY KEYS: listening on ${bind.host} (loopback only), not on the requested ${bind.overridden}. Add keys, or set server.open_public: true to serve ${bind.overridden} without keys.`);
      }
      const addr = await listener.listen(port ?? (server?.port || SERVER_DEFAULTS.port), bind.host);
      boundPort = addr.port;
      return addr;
    },
    reload(next) {
      // Everything is built before anything is replaced: a failure leaves the old config serving.
      const prov = createProviders(next, deps.providerDeps);
      const sameBreakers = toJsonString(BreakerConfigSchema, next.breaker ?? create(BreakerConfigSchema)) === toJsonString(BreakerConfigSchema, active.breaker ?? create(BreakerConfigSchema));
      const generation = build(next, prov, sameBreakers ? gateway.breakers : undefined);
      const nextAuth = createAuth(next.keys, next.routes);
      const oldBreakers = gateway.breakers;
      reloadable.swap(generation);
      auth.swap(nextAuth);
      budgets.update(next.keys);
      if (!sameBreakers) oldBreakers.close();
      active = next;
      logger.debug({ routes: generation.gateway.routes().map((r) => r.route), providers: [...prov.keys()] }, "config swapped");
    },
    async shutdown() {
      if (draining) return;
      draining = true;
      health.setServing(false);
      const timeoutMs = durationOr(server?.drainTimeout ?? "", SERVER_DEFAULTS.drainTimeoutMs);
      // Shortly before the drain timeout, tell the calls still running that the
      // server is going away, so they end with UNAVAILABLE rather than a reset.
      const warn = setTimeout(
        () => shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable)),
        Math.max(0, timeoutMs - Math.min(500, timeoutMs / 10)),
      );
      const { forced } = await listener.drain(timeoutMs);
      clearTimeout(warn);
      await Promise.all([...reloadable.current().providers.values()].map((p) => p.close?.()));
      gateway.breakers.close();
      await idempotency.close();
      await budgets.close();
      logger.info({ forced }, forced ? "drain timed out; closed remaining connections" : "drained");
    },
  };
}
