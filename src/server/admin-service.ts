/**
 * detour.v1.AdminService: read-only views of routes, breakers and stats.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ListBreakersResponseSchema,
  ListRecentRequestsResponseSchema,
  ListRoutesResponseSchema,
  type AdminService,
} from "../../gen/detour/v1/admin_pb.js";
import type { Gateway } from "../gateway/gateway.ts";
import { RECENT_CAPACITY, type Stats } from "../stats/stats.ts";
import { toConnectError } from "../errors-connect.ts";
import { invalidRequest } from "../errors.ts";

const RECENT_DEFAULT = 20;

/** The AdminService implementation over the engine. */
export function adminService(gateway: Gateway, stats: Stats): ServiceImpl<typeof AdminService> {
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
    getStats(req) {
      return stats.get(req.route || undefined);
    },
    listRecentRequests(req) {
      if (req.limit > RECENT_CAPACITY) throw toConnectError(invalidRequest("limit", `at most ${RECENT_CAPACITY} recent requests are kept; ask for ${RECENT_CAPACITY} or fewer`));
      return create(ListRecentRequestsResponseSchema, { requests: stats.recent(req.route || undefined, req.limit || RECENT_DEFAULT) });
    },
  };
}
