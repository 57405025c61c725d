/**
 * grpc.health.v1 as an ordinary Connect service, plus the serving state that
 * /healthz, /readyz and the drain logic share. Kubernetes gRPC probes,
 * grpc_health_probe and mesh sidecars all speak this protocol.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";

/** The serving state of the whole server and of each service. */
export interface HealthState {
  /** True until shutdown starts. */
  serving(): boolean;
  /** Sets every service's state at once; watchers are told. */
  setServing(serving: boolean): void;
  /** The status of one service ("" for the server as a whole). */
  status(service: string): Status | undefined;
  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: () => void): () => void;
  /** Every service name this state covers, "" included. */
  services(): string[];
}

/** Creates the health state for the named services. */
export function createHealthState(services: readonly string[]): HealthState {
  let serving = true;
  const listeners = new Set<() => void>();
  const names = ["", ...services];
  return {
    serving: () => serving,
    setServing(next) {
      if (next === serving) return;
      serving = next;
      for (const fn of listeners) fn();
    },
    status: (service) => (names.includes(service) ? (serving ? Status.SERVING : Status.NOT_SERVING) : undefined),
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    services: () => names,
  };
}

/** The grpc.health.v1.Health implementation over a HealthState. */
export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  const answer = (status: Status): HealthCheckResponse => create(HealthCheckResponseSchema, { status });
  return {
    check(req) {
      const status = state.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return answer(status);
    },
    async *watch(req, ctx) {
      let wake: (() => void) | undefined;
      const unsubscribe = state.subscribe(() => wake?.());
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        let last: Status | undefined;
        while (!ctx.signal.aborted) {
          const status = state.status(req.service) ?? Status.SERVICE_UNKNOWN;
          if (status !== last) yield answer(status);
          last = status;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        unsubscribe();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },
    list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const name of state.services()) statuses[name] = answer(state.status(name) ?? Status.UNKNOWN);
      return create(HealthListResponseSchema, { statuses });
    },
  };
}
