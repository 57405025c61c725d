/**
 * Registers every Connect/gRPC/gRPC-Web service on one router: the gateway,
 * the admin views, health and reflection.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { AdminService } from "../../gen/detour/v1/admin_pb.js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import type { Gateway } from "../gateway/gateway.ts";
import type { Auth } from "./auth.ts";
import type { Stats } from "../stats/stats.ts";
import type { Budgets } from "./budgets.ts";
import { adminService } from "./admin-service.ts";
import { gatewayService } from "./gateway-service.ts";
import { healthService, type HealthState } from "./health.ts";
import { reflectionServices } from "./reflection.ts";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The services clients can call, for health and reflection. */
export const SERVICES = [GatewayService, AdminService, Health] as const;

/** Returns the router setup for connectNodeAdapter. */
export function connectRoutes(gateway: Gateway, health: HealthState, auth: Auth, stats: Stats, budgets: Budgets): (router: ConnectRouter) => void {
  return (router) => {
    router.service(GatewayService, gatewayService(gateway, auth, budgets));
    router.service(AdminService, adminService(gateway, stats));
    router.service(Health, healthService(health));
    const reflection = reflectionServices(SERVICES);
    router.service(ServerReflection, reflection.v1);
    router.service(ServerReflectionV1alpha, reflection.v1alpha);
  };
}
