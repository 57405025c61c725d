/**
 * Which models a caller may name directly as "provider/model". Every name
 * a caller invents would otherwise create a breaker, statistics and metric
 * series that live until restart (5,000 bogus names: 5,001 breakers with
 * timers, +130 MB, a 7.7 MB /metrics). Allowed: what the catalog or the
 * config knows (provider models, simulated models, route targets) and what
 * the provider's allowed_models patterns match.
 */
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { GatewayError } from "../errors.ts";
import type { Providers } from "../providers/registry.ts";

/** The check a planner makes before a direct call. */
export interface DirectModels {
  /** Throws UNKNOWN_MODEL unless `provider/model` may be called directly. */
  check(provider: string, model: string): void;
}

/** A glob ("ft:gpt-4o*", "*") as an anchored regular expression. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

/** Builds the check from the config; providers the config does not name (injected in tests) are not restricted. */
export function createDirectModels(config: Config, providers: Providers): DirectModels {
  const known = new Map<string, Set<string>>();
  const patterns = new Map<string, RegExp[]>();
  for (const p of config.providers) {
    const names = new Set(p.models.map((m) => m.name));
    if (p.kind.case === "simulated") for (const m of p.kind.value.models) names.add(m.name);
    known.set(p.name, names);
    patterns.set(p.name, p.allowedModels.map(globToRegExp));
  }
  for (const r of config.routes) {
    for (const t of r.targets) {
      const slash = t.model.indexOf("/");
      known.get(t.model.slice(0, slash))?.add(t.model.slice(slash + 1));
    }
  }
  return {
    check(provider, model) {
      const names = known.get(provider);
      if (!names || names.has(model)) return;
      if (patterns.get(provider)?.some((re) => re.test(model))) return;
      const p = providers.get(provider);
      if (p?.describe(model)) return;
      const candidates = [...names, ...(p?.models().map((m) => m.name) ?? [])];
      const near = closest(model, candidates);
      throw new GatewayError(
        "UNKNOWN_MODEL",
        `model: "${provider}/${model.slice(0, 128)}" is not a model the catalog or the config knows for provider ${provider}${near ? ` (did you mean "${provider}/${near}"?)` : ""}. ` +
          `To call other models of ${provider} directly, list them or a pattern in providers[].allowed_models (e.g. ["ft:gpt-4o*"], or ["*"] for any).`,
        { field: "model" },
      );
    },
  };
}

/** The candidate nearest `name` by edit distance, if near enough to be a typo. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  if (name.length > 128) return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of new Set(candidates)) {
    const d = distance(name, c, bestDistance);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Levenshtein distance, giving up at `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}
