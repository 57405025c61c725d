/**
 * detour.v1.GatewayService over Connect, gRPC and gRPC-Web: unwraps the
 * call's deadline and cancel signal, runs the engine, and maps its errors.
 */
import { context, propagation } from "@opentelemetry/api";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { GatewayError, invalidRequest, toGatewayError, wastedUsd } from "../errors.ts";
import { toConnectError } from "../errors-connect.ts";
import type { CallOptions, Gateway } from "../gateway/gateway.ts";
import type { Auth } from "./auth.ts";
import type { Budgets } from "./budgets.ts";
import { principalKey } from "./auth-interceptor.ts";

/** The request ID from the message, or the idempotency-key metadata. */
function withKey<T extends { requestId: string }>(req: T, ctx: HandlerContext): T {
  const key = ctx.requestHeader.get("idempotency-key");
  if (req.requestId === "" && key) req.requestId = key;
  return req;
}

const headerGetter = {
  keys: (h: Headers) => [...h.keys()],
  get: (h: Headers, key: string) => h.get(key) ?? undefined,
};

function callOptions(ctx: HandlerContext): CallOptions {
  // W3C traceparent/baggage from the caller's metadata parent the request span.
  return { signal: ctx.signal, timeoutMs: ctx.timeoutMs(), trace: propagation.extract(context.active(), ctx.requestHeader, headerGetter) };
}

function mapError(e: unknown, ctx?: HandlerContext): ConnectError {
  const g = toGatewayError(e);
  // Connect's own deadline timer and the engine's fire together: when
  // Connect's wins, the engine sees a cancel, but the caller's deadline passed.
  if (g.reason === "CANCELLED" && ctx && ConnectError.from(ctx.signal.reason).code === Code.DeadlineExceeded) {
    return toConnectError(new GatewayError("DEADLINE_EXCEEDED", "the call's deadline passed", { attempts: g.attempts, id: g.id }));
  }
  return toConnectError(g);
}

/** The GatewayService implementation over the engine. */
export function gatewayService(gateway: Gateway, auth: Auth, budgets: Budgets): ServiceImpl<typeof GatewayService> {
  return {
    async complete(req, ctx) {
      const principal = ctx.values.get(principalKey);
      try {
        auth.authorize(principal, req.model);
        await budgets.admit(principal);
      } catch (e) {
        throw mapError(e);
      }
      try {
        const out = await gateway.complete(withKey(req, ctx), callOptions(ctx));
        budgets.spend(principal, out.cost?.totalUsd ?? 0);
        return out;
      } catch (e) {
        // What a failed request cost (its wasted hops) counts against the key too.
        budgets.spend(principal, wastedUsd(e));
        throw mapError(e, ctx);
      }
    },
    async *streamComplete(req, ctx) {
      const principal = ctx.values.get(principalKey);
      try {
        if (!req.request) throw invalidRequest("request", "is required: put the chat (model, messages, …) under \"request\"");
        auth.authorize(principal, req.request.model);
        await budgets.admit(principal);
      } catch (e) {
        throw mapError(e);
      }
      try {
        for await (const batch of gateway.stream(withKey(req.request, ctx), callOptions(ctx))) {
          for (const ev of batch) {
            if (ev.event.case === "done") budgets.spend(principal, ev.event.value.cost?.totalUsd ?? 0);
            yield ev;
          }
        }
      } catch (e) {
        budgets.spend(principal, wastedUsd(e));
        throw mapError(e, ctx);
      }
    },
    listModels() {
      return gateway.listModels();
    },
  };
}
