/**
 * Gateway keys on the Connect/gRPC/gRPC-Web API: the caller is identified
 * from the authorization header (or metadata) before any handler runs.
 * Health and reflection stay open, as probes and tools expect.
 */
import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { toConnectError } from "../errors-connect.ts";
import { GatewayError, toGatewayError } from "../errors.ts";
import { OPEN, type Auth, type Principal } from "./auth.ts";

/** The authenticated caller, for handlers. */
export const principalKey = createContextKey<Principal>(OPEN, { description: "the caller's gateway key" });

const OPEN_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);

/** Authenticates every call to the gateway and admin services. */
export function authInterceptor(auth: Auth): Interceptor {
  return (next) => async (req) => {
    if (!auth.enabled || OPEN_SERVICES.has(req.service.typeName)) return next(req);
    try {
      const principal = auth.authenticate(req.header.get("authorization"));
      if (req.service.typeName === "detour.v1.AdminService" && !principal.admin) {
        throw new GatewayError("PERMISSION_DENIED", `key "${principal.name}" may not read the admin API`);
      }
      req.contextValues.set(principalKey, principal);
    } catch (e) {
      throw toConnectError(toGatewayError(e));
    }
    return next(req);
  };
}
