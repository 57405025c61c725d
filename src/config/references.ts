/**
 * Checks that protovalidate cannot express: names are unique and every
 * target points at a provider (and, for simulated providers, a model) that
 * exists.
 */
import { withoutCredentials } from "./withheld.ts";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { REASONS } from "../errors.ts";
import { parseDuration } from "./duration.ts";
import { suggest } from "./normalize.ts";
import { VENDOR_BASES } from "../providers/vendor-bases.ts";

/** Returns a list of problems, each starting with its field path. */
export function checkReferences(config: Config): string[] {
  const problems: string[] = [];
  const providers = new Map<string, Config["providers"][number]>();
  config.providers.forEach((p, i) => {
    if (providers.has(p.name)) problems.push(`providers[${i}].name: "${p.name}" is already used by another provider`);
    if (!providers.has(p.name)) providers.set(p.name, p);
    if (p.kind.case === "simulated") {
      const seen = new Set<string>();
      p.kind.value.models.forEach((m, j) => {
        if (seen.has(m.name)) problems.push(`providers[${i}].simulated.models[${j}].name: "${m.name}" is listed twice`);
        seen.add(m.name);
      });
    }
  });
  const routes = new Set<string>();
  config.routes.forEach((r, i) => {
    if (routes.has(r.name)) problems.push(`routes[${i}].name: "${r.name}" is already used by another route`);
    routes.add(r.name);
    for (const reason of Object.keys(r.onError)) {
      if (!Object.hasOwn(REASONS, reason)) {
        const hint = suggest(reason, Object.keys(REASONS));
        problems.push(`routes[${i}].on_error["${reason}"]: not a reason${hint ? ` (did you mean "${hint}"?)` : ""}; reasons are listed in the README's decision table`);
      }
    }
    r.targets.forEach((t, j) => {
      const path = `routes[${i}].targets[${j}].model`;
      const slash = t.model.indexOf("/");
      const providerName = t.model.slice(0, slash);
      const model = t.model.slice(slash + 1);
      const provider = providers.get(providerName);
      if (!provider) {
        const hint = suggest(providerName, [...providers.keys()]);
        problems.push(
          `${path}: no provider named "${providerName}"${hint ? ` (did you mean "${hint}"?)` : ""}; configured providers: ${[...providers.keys()].join(", ") || "none"}`,
        );
        return;
      }
      if (provider.kind.case === "simulated") {
        const names = provider.kind.value.models.map((m) => m.name);
        if (!names.includes(model)) {
          problems.push(`${path}: simulated provider "${providerName}" has no model "${model}"; it has: ${names.join(", ")}`);
        }
      }
    });
  });
  // Budgets, idempotency scopes and logs know a key by its name: two keys
  // with one name would share (or silently override) each other's limits.
  const keyNames = new Set<string>();
  config.keys.forEach((k, i) => {
    if (keyNames.has(k.name)) problems.push(`keys[${i}].name: "${k.name}" is already used by another key; give every key its own name`);
    keyNames.add(k.name);
    k.routes.forEach((r, j) => {
      if (!routes.has(r)) problems.push(`keys[${i}].routes[${j}]: no route named "${r}"`);
    });
  });
  // URLs are used only when a call is made or a connection opened: a bad
  // one must stop the config here, not crash the start or fail every call.
  config.providers.forEach((p, i) => {
    if (p.kind.case !== "openai" && p.kind.case !== "anthropic" && p.kind.case !== "gemini") return;
    const url = p.kind.value.baseUrl;
    if (url !== "" && !hasScheme(url, ["http:", "https:"])) {
      problems.push(`providers[${i}].${p.kind.case}.base_url: "${withoutCredentials(url)}" is not an http:// or https:// URL; use the API's base, such as ${VENDOR_BASES[p.kind.case]}, or leave it out for that default`);
    }
    // Sent on every call: a bad one would fail each call, not the config.
    for (const [name, value] of Object.entries(p.kind.value.headers)) {
      const path = `providers[${i}].${p.kind.case}.headers["${name}"]`;
      if (!HEADER_NAME.test(name)) problems.push(`${path}: not a valid HTTP header name; use letters, digits and !#$%&'*+-.^_\`|~ only`);
      else if (/[\r\n\0]/.test(value)) problems.push(`${path}: the value contains a line break or NUL, which a header cannot carry`);
    }
  });
  const redisUrl = config.idempotency?.redisUrl ?? "";
  if (redisUrl !== "" && !hasScheme(redisUrl, ["redis:", "rediss:"])) {
    problems.push(`idempotency.redis_url: "${withoutCredentials(redisUrl)}" is not a Redis URL; use redis://host:6379/0 (rediss:// for TLS), or leave it out to keep records in memory`);
  }
  // Durations pass the proto pattern already; this catches the odd case the
  // pattern allows but the parser rejects, so nothing fails later at runtime.
  for (const [path, text] of durationFields(config)) {
    try {
      if (text !== "") parseDuration(text);
    } catch (e) {
      problems.push(`${path}: ${(e as Error).message}`);
    }
  }
  return problems;
}

function* durationFields(config: Config): Generator<[string, string]> {
  const s = config.server;
  if (s) {
    yield ["server.drain_timeout", s.drainTimeout];
    yield ["server.default_deadline", s.defaultDeadline];
  }
  for (const [i, r] of config.routes.entries()) {
    yield [`routes[${i}].deadline`, r.deadline];
    yield [`routes[${i}].min_slice`, r.minSlice];
    for (const [j, t] of r.targets.entries()) {
      yield [`routes[${i}].targets[${j}].ttft_timeout`, t.ttftTimeout];
      yield [`routes[${i}].targets[${j}].total_timeout`, t.totalTimeout];
      yield [`routes[${i}].targets[${j}].inter_token_timeout`, t.interTokenTimeout];
    }
  }
}

/** An HTTP header name: a token (RFC 9110, section 5.1). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** True when `text` parses as a URL with a host and one of `schemes`. */
function hasScheme(text: string, schemes: readonly string[]): boolean {
  const u = URL.parse(text);
  return u !== null && schemes.includes(u.protocol) && u.host !== "";
}
