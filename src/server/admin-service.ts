/**
 * detour.v1.AdminService: read-only views of routes, breakers and stats.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetStatsResponseSchema,
  ListBreakersResponseSchema,
  ListRoutesResponseSchema,
  type AdminService,
} from "../../gen/detour/v1/admin_pb.js";
import type { Gateway } from "../gateway/gateway.js";

/** The AdminService implementation over the engine. */
export function adminService(gateway: Gateway): ServiceImpl<typeof AdminService> {
  return {
    listRoutes() {
      return create(ListRoutesResponseSchema, {
        routes: gateway.routes().map((p) => ({
          summary: { name: p.route, description: p.description, targets: p.targets.map((t) => t.ref) },
          deadline: durationFromMs(p.deadlineMs),
          maxHops: p.maxHops,
          hedging: p.hedging,
          commitPolicy: p.commitPolicy,
        })),
      });
    },
    listBreakers() {
      return create(ListBreakersResponseSchema, { breakers: gateway.breakers.list() });
    },
    // Statistics arrive with the observability work; until then the view is
    // honestly empty rather than invented.
    getStats() {
      return create(GetStatsResponseSchema, { window: durationFromMs(0) });
    },
  };
}
