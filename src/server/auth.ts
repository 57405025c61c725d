/**
 * Gateway API keys: `Authorization: Bearer <key>` checked against the SHA-256
 * hashes in the config, each key limited to its routes. With no keys
 * configured the gateway is open (main.ts warns loudly at startup).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { GatewayKey, RouteConfig } from "../../gen/detour/v1/config_pb.js";
import { GatewayError } from "../errors.ts";

/** The caller a key identifies. */
export interface Principal {
  readonly name: string;
  readonly routes: readonly string[];
  readonly admin: boolean;
}

/** The anonymous caller of an open gateway. */
export const OPEN: Principal = { name: "anonymous", routes: [], admin: true };

/** Checks callers' keys. */
export interface Auth {
  /** True when keys are configured. */
  readonly enabled: boolean;
  /** The caller for an Authorization header value; throws UNAUTHENTICATED. */
  authenticate(authorization: string | null | undefined): Principal;
  /**
   * Throws PERMISSION_DENIED unless the caller may use `model` (a route or
   * provider/model), and, when `providerOptions` is set, send vendor extras there.
   */
  authorize(p: Principal, model: string, providerOptions?: boolean): void;
}

/** Builds the key check from config; `routes` say where route-limited keys may send provider_options. */
export function createAuth(keys: readonly GatewayKey[], routes: readonly RouteConfig[] = []): Auth {
  const extrasAllowed = new Set(routes.filter((r) => r.allowProviderOptions).map((r) => r.name));
  const routeIndex = new Map(routes.map((r, i) => [r.name, i]));
  const hashes = keys.map((k) => ({ key: k, hash: Buffer.from(k.sha256, "hex") }));
  return {
    enabled: keys.length > 0,
    authenticate(authorization) {
      if (hashes.length === 0) return OPEN;
      const m = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
      if (!m) throw new GatewayError("UNAUTHENTICATED", "missing API key: send 'Authorization: Bearer <key>'");
      const digest = createHash("sha256").update(m[1] as string).digest();
      const hit = hashes.find((h) => h.hash.length === digest.length && timingSafeEqual(h.hash, digest));
      if (!hit) throw new GatewayError("UNAUTHENTICATED", "incorrect API key provided");
      return { name: hit.key.name, routes: hit.key.routes, admin: hit.key.admin };
    },
    authorize(p, model, providerOptions = false) {
      if (p.routes.length === 0) return;
      if (!p.routes.includes(model)) {
        throw new GatewayError("PERMISSION_DENIED", `key "${p.name}" may not use "${model}"; it may use: ${p.routes.join(", ")}`, { field: "model" });
      }
      // Extras reach the vendor as they are: an operator opts a route in for keys it limits.
      if (providerOptions && !extrasAllowed.has(model)) {
        const at = routeIndex.get(model);
        throw new GatewayError(
          "PERMISSION_DENIED",
          `key "${p.name}" may not send provider_options on route "${model}": the route does not set allow_provider_options (routes[${at ?? "?"}].allow_provider_options: true in the config allows it)`,
          { field: "provider_options" },
        );
      }
    },
  };
}

/** An Auth whose keys can be replaced on reload. */
export function swappableAuth(first: Auth): Auth & { swap(next: Auth): void } {
  let current = first;
  return {
    get enabled() {
      return current.enabled;
    },
    authenticate: (h) => current.authenticate(h),
    authorize: (p, m, o) => current.authorize(p, m, o),
    swap(next) {
      current = next;
    },
  };
}
