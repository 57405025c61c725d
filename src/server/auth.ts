/**
 * Gateway API keys: `Authorization: Bearer <key>` checked against the SHA-256
 * hashes in the config, each key limited to its routes. With no keys
 * configured the gateway is open (main.ts warns loudly at startup).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { GatewayKey } from "../../gen/detour/v1/config_pb.js";
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
  /** Throws PERMISSION_DENIED unless the caller may use `model` (a route or provider/model). */
  authorize(p: Principal, model: string): void;
}

/** Builds the key check from config. */
export function createAuth(keys: readonly GatewayKey[]): Auth {
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
    authorize(p, model) {
      if (p.routes.length === 0 || p.routes.includes(model)) return;
      throw new GatewayError("PERMISSION_DENIED", `key "${p.name}" may not use "${model}"; it may use: ${p.routes.join(", ")}`, { field: "model" });
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
    authorize: (p, m) => current.authorize(p, m),
    swap(next) {
      current = next;
    },
  };
}
