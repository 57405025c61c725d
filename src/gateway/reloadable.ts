/**
 * Hot config reload: a Gateway facade over the current generation. A new
 * config is built in full (providers, routes, keys) before it replaces the
 * old one in a single assignment; calls already running finish on the
 * generation they started on, whose providers are closed when its last call
 * ends.
 */
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Providers } from "../providers/registry.ts";
import type { CallOptions, Gateway } from "./gateway.ts";

/** One built configuration. */
export interface Generation {
  readonly gateway: Gateway;
  readonly providers: Providers;
}

interface Live extends Generation {
  inflight: number;
  retired: boolean;
}

/** The facade, and the swap. */
export interface Reloadable {
  readonly gateway: Gateway;
  /** Makes `next` current; the old generation closes once idle. */
  swap(next: Generation): void;
  /** The current generation. */
  current(): Generation;
}

async function closeGeneration(g: Live): Promise<void> {
  await Promise.all([...g.providers.values()].map((p) => p.close?.()));
}

/** Wraps the first generation. */
export function createReloadable(first: Generation): Reloadable {
  let live: Live = { ...first, inflight: 0, retired: false };
  const enter = (): Live => {
    const g = live;
    g.inflight++;
    return g;
  };
  const leave = (g: Live) => {
    g.inflight--;
    if (g.retired && g.inflight === 0) void closeGeneration(g);
  };
  async function* stream(req: CompleteRequest, opts: CallOptions) {
    const g = enter();
    try {
      yield* g.gateway.stream(req, opts);
    } finally {
      leave(g);
    }
  }
  const gateway: Gateway = {
    stream,
    async complete(req, opts) {
      const g = enter();
      try {
        return await g.gateway.complete(req, opts);
      } finally {
        leave(g);
      }
    },
    listModels: () => live.gateway.listModels(),
    routes: () => live.gateway.routes(),
    quote: (req, streaming) => live.gateway.quote(req, streaming),
    unpriced: () => live.gateway.unpriced(),
    get breakers() {
      return live.gateway.breakers;
    },
  };
  return {
    gateway,
    current: () => live,
    swap(next) {
      const old = live;
      live = { ...next, inflight: 0, retired: false };
      old.retired = true;
      if (old.inflight === 0) void closeGeneration(old);
    },
  };
}
