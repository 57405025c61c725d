/**
 * Property tests of the config loader with hostile YAML: parseConfig returns
 * a config or throws ConfigError whose every problem starts with the path at
 * fault (or says it is a YAML error) — never a TypeError, a RangeError or a
 * hang, however deep, aliased or mistyped the document.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { fieldName, pathsOf, related, withValue, type Json, type Path } from "./json-paths.js";
import { hostileValue, TRAP_STRINGS } from "./openai-arbitraries.js";

const SEED = 20_240_611;
/** A problem names where it is: a field path, the top level, or the YAML text. */
const NAMED = /^(YAML: |\(top level\): |([A-Za-z_]\w*|\["[^]*?"\])(\[\d+\]|\.\w+|\["[^]*?"\])*: )/;

/** A path with map keys that are plain names written as fields: `on_error["RATE_LIMITED"]` → `on_error.RATE_LIMITED`. */
const plain = (path: string) => path.replace(/\["([A-Za-z_]\w*)"\]/g, ".$1");

/** The path a problem names; a oneof (`providers[0].kind`) counts as its parent's. */
const namedPath = (problem: string) => plain(problem.slice(0, problem.indexOf(": "))).replace(/\.kind$/, "");

/** How the loader names `key` under `path`: quoted unless it is a plain name. */
const member = (path: string, key: string) => (/^[A-Za-z_]\w*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);

/** Parses with no environment (so no provider joins by itself); returns the problems, or undefined when accepted. */
function problemsOf(text: string): readonly string[] | undefined {
  try {
    parseConfig(text, "fuzz.yaml", { env: {} });
    return undefined;
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(e.problems.length > 0);
    for (const p of e.problems) assert.match(p, NAMED, "every problem starts with its path");
    return e.problems;
  }
}

const duration = fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom("ms", "s", "m")).map(([n, u]) => `${n}${u}`);
const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);

/** A valid config as the YAML parser returns it: one simulated provider and routes to its models. */
const validConfig: fc.Arbitrary<Json> = fc
  .record({
    provider: name,
    models: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
    routes: fc.uniqueArray(name, { minLength: 1, maxLength: 2 }),
    server: fc.record({ port: fc.integer({ min: 0, max: 65535 }), drain_timeout: duration, max_request_bytes: fc.integer({ min: 1, max: 2 ** 32 - 1 }) }, { requiredKeys: [] }),
    breaker: fc.record({ window: duration, volume_threshold: fc.nat(100), error_threshold_percent: fc.nat(100), disabled: fc.boolean() }, { requiredKeys: [] }),
    policy: fc.constantFrom("continue", "restart", "fail", "COMMIT_POLICY_FAIL"),
    deadline: duration,
    retries: fc.nat(10),
    rate: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((c) => ({
    server: c.server,
    breaker: c.breaker,
    providers: [
      {
        name: c.provider,
        simulated: { models: c.models.map((m) => ({ name: m, output: { kind: "text", text: "hi" }, faults: [{ kind: "rate_limit", rate: c.rate, retry_after: c.deadline }] })) },
      },
    ],
    routes: c.routes.map((r) => ({
      name: r,
      commit_policy: c.policy,
      deadline: c.deadline,
      on_error: { RATE_LIMITED: "fallback" },
      targets: c.models.map((m) => ({ model: `${c.provider}/${m}`, retries: c.retries, ttft_timeout: c.deadline })),
    })),
  }));

/** Values config fields get wrong: bad durations, numbers out of range, near-miss enum names, and any JSON. */
const badValue = fc.oneof(
  hostileValue,
  fc.constantFrom("4 parsecs", "-1s", "1e3s", "1.5.5s", "5", "s", "4S", "1h-1m", "∞s", "0x10", " 12"),
  fc.constantFrom(-1, -(2 ** 31) - 1, 2 ** 31, 2 ** 32, 2 ** 64, 1e23, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom("COMMIT_POLICY_BOGUS", "continue ", "Continue", "RATE_LIMITED", "rate-limit", "ERROR_ACTION_UNSPECIFIED"),
);

/** Keys a config does not have, including ones an object lookup might find by accident. */
const unknownKey = fc.oneof(fc.constantFrom(...TRAP_STRINGS), fc.constantFrom("timeout", "retry", "server_port", "Routes", "providers "), fc.string({ maxLength: 10 }));

/** Text made of YAML's syntax and the config's words, so the parser and the schema both get exercised. */
const yamlish = fc
  .array(
    fc.constantFrom("server", "routes", "providers", "targets", "model", "name", ":", ": ", "- ", "\n", "\n  ", "  ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "!!str ", "!!binary ", "? ", "|\n", ">-\n", "# c\n", "'", '"', "---\n", "%YAML 1.2\n", "~", "4s", "-1", "1e400", "sim/x", "\t", "\0", "\uFEFF"),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(""));

describe("config loader properties", () => {
  test("property: any valid config loads, in YAML as written by a YAML library", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(validConfig, (config) => assert.equal(problemsOf(stringify(config))?.join("\n"), undefined)),
      { seed: SEED, numRuns: 150 },
    );
  });

  test("property: YAML-ish text loads or is refused with named problems", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ maxLength: 60 }), fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v))), (text) => void problemsOf(text)),
      { seed: SEED, numRuns: 600 },
    );
  });

  test("property: one field of a valid config changed or removed is refused naming that field, or accepted", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(validConfig, fc.nat(), fc.boolean(), badValue, (config, at, remove, value) => {
        const paths = pathsOf(config);
        const path = paths[at % paths.length] as Path;
        const problems = problemsOf(stringify(withValue(config, path, remove ? undefined : value)));
        if (problems === undefined) return;
        // A provider or model renamed or removed is reported where it is referenced.
        const referenced = path[0] === "providers" && problems.some((p) => /^routes\[\d+\]\.targets\[\d+\]\.model: /.test(p));
        const here = fieldName(path);
        assert.ok(referenced || problems.some((p) => related(namedPath(p), here) || p.startsWith("(top level)")), `changed ${here}, got: ${problems.join(" | ")}`);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  test("property: an unknown key anywhere is refused naming its path", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(validConfig, fc.nat(), unknownKey, (config, at, key) => {
        const objects: Path[] = [[], ...pathsOf(config).filter((p) => isObject(p, config))];
        const where = objects[at % objects.length] as Path;
        const inMap = where.at(-1) === "on_error";
        // Through JSON, so "__proto__" is an own key, as the YAML parser makes it.
        const text = JSON.stringify(withValue(config, [...where, "\u0000key"], inMap ? "fail" : 1)).replace('"\\u0000key"', JSON.stringify(key));
        const problems = problemsOf(text) ?? [];
        const expected = member(fieldName(where), key);
        assert.ok(problems.some((p) => p.startsWith(inMap ? `${fieldName(where)}["${key}"]: not a reason` : `${expected}: unknown field`)), `added ${JSON.stringify(key)} at ${fieldName(where) || "the top"}: ${problems.join(" | ")}`);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

/** True when the value at `path` in `root` is a mapping (not a list or a scalar). */
function isObject(path: Path, root: unknown): boolean {
  let at: unknown = root;
  for (const p of path) at = (at as Record<string | number, unknown>)[p];
  return typeof at === "object" && at !== null && !Array.isArray(at);
}

describe("config loader with hostile documents", () => {
  const base = stringify(fc.sample(validConfig, { seed: SEED, numRuns: 1 })[0]);

  test("a billion-laughs alias bomb is refused at once", () => {
    // Nine levels of nine aliases each: 9^9 "lol"s if expanded.
    const levels = [..."abcdefghi"];
    const bomb = levels.map((x, i) => `${x}: &${x} [${Array(9).fill(i === 0 ? "lol" : `*${levels[i - 1]}`).join(", ")}]`).join("\n");
    assert.deepEqual(problemsOf(bomb), ["YAML: Excessive alias count indicates a resource exhaustion attack"]);
    assert.match(problemsOf(`${base}\nx: [*nowhere]\n`)?.join() ?? "", /^YAML: Unresolved alias/);
  });

  test("nesting far past the parser's stack, in flow or block style, is refused as too deep", { timeout: 20_000 }, () => {
    assert.deepEqual(problemsOf(`server: ${"[".repeat(100_000)}${"]".repeat(100_000)}`), ["YAML: nested too deeply at line 1"]);
    assert.deepEqual(problemsOf(`server: ${"{a: ".repeat(20_000)}`), ["YAML: nested too deeply at line 1"]);
    assert.deepEqual(problemsOf(`routes:\n${"- ".repeat(20_000)}x`), ["YAML: nested too deeply at line 2"]);
    const block = Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i)}a:`).join("\n");
    assert.match(problemsOf(block)?.[0] ?? "", /^YAML: nested too deeply at line \d+$/);
  });

  test("lists and mappings as keys are refused, not stringified (which took exponential time)", { timeout: 20_000 }, () => {
    assert.match(problemsOf("? [a, b]\n: 1\n")?.[0] ?? "", /^YAML: With stringKeys, all keys must be strings/);
    assert.match(problemsOf(`${"? ".repeat(300)}a`)?.[0] ?? "", /^YAML: /);
  });

  test("numbers a field cannot hold are refused naming the field", () => {
    for (const [yaml, problem] of [
      ["server: { port: 1e300 }", "server.port: expected a whole number from 0 to 4294967295, got 1e+300"],
      ["server: { max_request_bytes: 4294967296 }", "server.max_request_bytes: expected a whole number from 0 to 4294967295, got 4294967296"],
      ["idempotency: { max_bytes: 99999999999999999999999 }", "idempotency.max_bytes: expected a whole number from 0 to 9007199254740991, got 1e+23"],
      ["server: { port: -1 }", "server.port: expected a number ≥ 0, got -1"],
      ["server: { port: '0x50000' }", "server.port: must be less than or equal to 65535"],
    ] as const) {
      assert.deepEqual(problemsOf(yaml), [problem], yaml);
    }
    assert.equal(problemsOf("server: { port: ' 8080' }"), undefined, "a number in quotes, spaces and all");
  });

  test("keys an object lookup would find by accident are not reasons", () => {
    for (const key of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      const yaml = base.replace("RATE_LIMITED: fallback", `${JSON.stringify(key)}: fallback`);
      assert.ok(problemsOf(yaml)?.some((p) => p.startsWith(`routes[0].on_error["${key}"]: not a reason`)), key);
    }
  });
});
