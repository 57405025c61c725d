/**
 * Watches the gateway's circuit breakers from outside, through the admin
 * API (Connect JSON: POST /detour.v1.AdminService/ListBreakers), sampling
 * them while the load runs: how often each opened, and how often one that
 * was open or half-open was seen closed again.
 */
import { request } from "undici";

/** A breaker as ListBreakers reports it. */
export interface BreakerView {
  /** "provider/model", or "provider/" for the provider-wide breaker. */
  readonly name: string;
  /** "OPEN", "HALF_OPEN" or "CLOSED". */
  readonly state: string;
}

/** A running watch. */
export interface BreakerWatch {
  /** Opens seen, by breaker. */
  readonly opens: ReadonlyMap<string, number>;
  /** Returns to closed after an open, by breaker. */
  readonly recoveries: ReadonlyMap<string, number>;
  /** Stops sampling. */
  stop(): Promise<void>;
}

/** Reads every breaker's state now. */
export async function listBreakers(url: string): Promise<BreakerView[]> {
  const res = await request(`${url}/detour.v1.AdminService/ListBreakers`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const body = (await res.body.json()) as { breakers?: { target?: { provider?: string; model?: string }; state?: string }[] };
  if (res.statusCode !== 200) throw new Error(`ListBreakers answered HTTP ${res.statusCode}`);
  return (body.breakers ?? []).map((b) => ({
    name: `${b.target?.provider ?? ""}/${b.target?.model ?? ""}`,
    state: (b.state ?? "BREAKER_STATE_CLOSED").replace("BREAKER_STATE_", ""),
  }));
}

/** Samples the breakers every `everyMs` until stopped. */
export function watchBreakers(url: string, everyMs: number): BreakerWatch {
  const opens = new Map<string, number>();
  const recoveries = new Map<string, number>();
  const last = new Map<string, string>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let sampling: Promise<void> | undefined;
  const sample = async () => {
    for (const b of await listBreakers(url).catch(() => [])) {
      const before = last.get(b.name) ?? "CLOSED";
      if (b.state === "OPEN" && before !== "OPEN") bump(opens, b.name);
      if (b.state === "CLOSED" && before !== "CLOSED") bump(recoveries, b.name);
      last.set(b.name, b.state);
    }
  };
  // A sample still running skips the tick rather than queueing behind it.
  const timer = setInterval(() => {
    sampling ??= sample().finally(() => (sampling = undefined));
  }, everyMs);
  return {
    opens,
    recoveries,
    async stop() {
      clearInterval(timer);
      await sampling;
    },
  };
}
