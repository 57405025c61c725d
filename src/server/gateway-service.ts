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
import type { Auth, Principal } from "./auth.ts";
import type { Budgets, Hold } from "./budgets.ts";
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

function callOptions(ctx: HandlerContext, principal: Principal): CallOptions {
  // W3C traceparent/baggage from the caller's metadata parent the request span.
  return { signal: ctx.signal, timeoutMs: ctx.timeoutMs(), trace: propagation.extract(context.active(), ctx.requestHeader, headerGetter), scope: principal.name };
}

/** True when the request carries vendor extras (provider_options). */
function hasExtras(req: { providerOptions: Record<string, unknown> }): boolean {
  return Object.keys(req.providerOptions).length > 0;
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
      let hold: Hold;
      try {
        auth.authorize(principal, req.model, hasExtras(req));
        hold = await budgets.admit(principal, () => gateway.quote(req, false));
      } catch (e) {
        throw mapError(e);
      }
      try {
        const out = await gateway.complete(withKey(req, ctx), callOptions(ctx, principal));
        hold.settle(out.cost?.totalUsd ?? 0);
        return out;
      } catch (e) {
        // What a failed request cost (its wasted hops) counts against the key too.
        hold.settle(wastedUsd(e));
        throw mapError(e, ctx);
      }
    },
    async *streamComplete(req, ctx) {
      const principal = ctx.values.get(principalKey);
      let hold: Hold;
      try {
        if (!req.request) throw invalidRequest("request", "is required: put the chat (model, messages, …) under \"request\"");
        auth.authorize(principal, req.request.model, hasExtras(req.request));
        const chat = req.request;
        hold = await budgets.admit(principal, () => gateway.quote(chat, true));
      } catch (e) {
        throw mapError(e);
      }
      try {
        for await (const batch of gateway.stream(withKey(req.request, ctx), callOptions(ctx, principal))) {
          for (const ev of batch) {
            if (ev.event.case === "done") hold.settle(ev.event.value.cost?.totalUsd ?? 0);
            yield ev;
          }
        }
      } catch (e) {
        hold.settle(wastedUsd(e));
        throw mapError(e, ctx);
      } finally {
        // A caller that went away mid-stream: its reservation is let go.
        hold.settle(0);
      }
    },
    listModels() {
      return gateway.listModels();
    },
  };
}
