import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CommitPolicy } from "../../gen/detour/v1/chat_pb.js";
import { SimulatedFaultKind } from "../../gen/detour/v1/config_pb.js";
import { ConfigError, loadConfigFile, parseConfig } from "../../src/config/load.js";
import { BUILTIN_CONFIG_PATH } from "../../src/config/source.js";
import { checkCommand } from "../../src/check/command.js";

const PROVIDERS = `
providers:
  - name: sim
    simulated:
      models: [{ name: a }, { name: b }]
`;

/** Parses and returns the problems, failing if the config was accepted. */
function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, "bad.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.match(e.message, /^invalid config bad\.yaml:/);
    return [...e.problems];
  }
  assert.fail("the config was accepted");
}

describe("config loading", () => {
  test("the built-in config loads and has the default route with a fallback", async () => {
    const config = await loadConfigFile(BUILTIN_CONFIG_PATH);
    const route = config.routes.find((r) => r.name === "default");
    assert.ok(route, "default route");
    assert.ok(route.targets.length >= 2, "a fallback target");
    const flaky = config.providers[0]?.kind;
    assert.equal(flaky?.case, "simulated");
  });

  test("a base_url, redis_url or extra header that could never be sent is refused at load, naming the field and the fix", () => {
    const got = problems(`providers:
  - { name: o, openai: { base_url: "not a url" } }
  - { name: a, anthropic: { base_url: "ftp://api.example.com" } }
  - { name: g, gemini: { base_url: "https://generativelanguage.googleapis.com/v1beta" } }
  - { name: l, openai: { base_url: "http://localhost:11434/v1" } }
idempotency: { redis_url: "localhost:6379" }
`);
    assert.deepEqual(got, [
      'providers[0].openai.base_url: "not a url" is not an http:// or https:// URL; use the API\'s base, such as https://api.openai.com/v1, or leave it out for that default',
      'providers[1].anthropic.base_url: "ftp://api.example.com" is not an http:// or https:// URL; use the API\'s base, such as https://api.anthropic.com, or leave it out for that default',
      'idempotency.redis_url: "localhost:6379" is not a Redis URL; use redis://host:6379/0 (rediss:// for TLS), or leave it out to keep records in memory',
    ]);
    assert.deepEqual(problems(`providers: [{ name: o, openai: { headers: { "bad header": "x", "x-ok": "a\\nb", "anthropic-beta": "tools-2024" } } }]`), [
      `providers[0].openai.headers["bad header"]: not a valid HTTP header name; use letters, digits and !#$%&'*+-.^_\`|~ only`,
      'providers[0].openai.headers["x-ok"]: the value contains a line break or NUL, which a header cannot carry',
    ]);
    for (const url of ["redis://redis:6379/0", "rediss://user:pw@cache.internal:6380"]) {
      assert.equal(parseConfig(`idempotency: { redis_url: "${url}" }`, "ok.yaml").idempotency?.redisUrl, url);
    }
  });

  test("snake_case and camelCase keys and short enum names are accepted", () => {
    const config = parseConfig(
      `${PROVIDERS}
routes:
  - name: r
    commitPolicy: restart
    targets: [{ model: sim/a, ttft_timeout: 4s, totalTimeout: 30s }]
`,
      "ok.yaml",
    );
    assert.equal(config.routes[0]?.commitPolicy, CommitPolicy.RESTART);
    assert.equal(config.routes[0]?.targets[0]?.ttftTimeout, "4s");
    assert.equal(config.routes[0]?.targets[0]?.totalTimeout, "30s");
  });

  test("full enum names work too", () => {
    const config = parseConfig(
      `providers: [{ name: s, simulated: { models: [{ name: m, faults: [{ kind: SIMULATED_FAULT_KIND_HANG, rate: 1 }] }] } }]`,
      "ok.yaml",
    );
    const kind = config.providers[0]?.kind;
    assert.equal(kind?.case === "simulated" ? kind.value.models[0]?.faults[0]?.kind : undefined, SimulatedFaultKind.HANG);
  });

  test("a YAML syntax error names the line", () => {
    const [p] = problems("routes:\n  - name: [unclosed\n");
    assert.match(p ?? "", /^YAML: .*line \d+/);
  });

  test("an unknown field names its path and the likely fix", () => {
    const [p] = problems(`${PROVIDERS}
routes:
  - name: r
    targets: [{ model: sim/a, ttft_timout: 4s }]
`);
    assert.match(p ?? "", /^routes\[0\]\.targets\[0\]\.ttft_timout: unknown field \(did you mean "ttft_timeout"\?\)/);
  });

  test("a duration without a unit says how to write one", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, targets: [{ model: sim/a, ttft_timeout: 4 }] }]
`);
    assert.match(p ?? "", /routes\[0\]\.targets\[0\]\.ttft_timeout: expected a string, got number 4 \(durations need a unit, e\.g\. "4s"\)/);
  });

  test("a malformed duration string is refused by the schema", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, deadline: 4 seconds, targets: [{ model: sim/a }] }]
`);
    assert.match(p ?? "", /^routes\[0\]\.deadline: /);
  });

  test("a wrong enum value lists the choices", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, commit_policy: sometimes, targets: [{ model: sim/a }] }]
`);
    assert.equal(p, 'routes[0].commit_policy: "sometimes" is not one of: fail, continue, restart');
  });

  test("a wrong type says what was expected", () => {
    const found = problems(`server: { port: eighty }\n${PROVIDERS}`);
    assert.deepEqual(found, ['server.port: expected a number, got "eighty"']);
  });

  test("protovalidate rules report the field path", () => {
    const found = problems(`${PROVIDERS}
routes: [{ name: r, targets: [] }]
`);
    assert.equal(found.length, 1);
    assert.match(found[0] ?? "", /^routes\[0\]\.targets: .*at least 1/);
  });

  test("a fault rate above 1 is refused", () => {
    const [p] = problems(`providers: [{ name: s, simulated: { models: [{ name: m, faults: [{ kind: hang, rate: 1.5 }] }] } }]`);
    assert.match(p ?? "", /^providers\[0\]\.simulated\.models\[0\]\.faults\[0\]\.rate: .*1/);
  });

  test("a provider must say which wire format it speaks", () => {
    const [p] = problems(`providers: [{ name: s }]`);
    assert.match(p ?? "", /^providers\[0\]\.kind: /);
  });

  test("two wire formats on one provider are refused", () => {
    const [p] = problems(`providers: [{ name: s, simulated: { models: [{ name: m }] }, openai: {} }]`);
    assert.match(p ?? "", /^providers\[0\]\.openai: only one of simulated, openai, anthropic, gemini may be set/);
  });

  test("a target naming an unknown provider suggests the right one", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, targets: [{ model: sin/a }] }]
`);
    assert.equal(p, 'routes[0].targets[0].model: no provider named "sin" (did you mean "sim"?); configured providers: sim');
  });

  test("a target naming a missing simulated model lists the models", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, targets: [{ model: sim/c }] }]
`);
    assert.equal(p, 'routes[0].targets[0].model: simulated provider "sim" has no model "c"; it has: a, b');
  });

  test("a target without provider/model form is refused", () => {
    const [p] = problems(`${PROVIDERS}
routes: [{ name: r, targets: [{ model: gpt-4o }] }]
`);
    assert.match(p ?? "", /^routes\[0\]\.targets\[0\]\.model: /);
  });

  test("duplicate route and provider names are refused", () => {
    const found = problems(`${PROVIDERS}
  - name: sim
    simulated: { models: [{ name: z }] }
routes:
  - { name: r, targets: [{ model: sim/a }] }
  - { name: r, targets: [{ model: sim/b }] }
`);
    assert.deepEqual(found, [
      'providers[1].name: "sim" is already used by another provider',
      'routes[1].name: "r" is already used by another route',
    ]);
  });

  test("two keys with one name are refused: the later one's missing limits would win", () => {
    const sha = "a".repeat(64);
    const found = problems(`${PROVIDERS}
routes: [{ name: r, targets: [{ model: sim/a }] }]
keys:
  - { name: team, sha256: "${sha}", usd_per_day: 5 }
  - { name: team, sha256: "${"b".repeat(64)}" }
`);
    assert.deepEqual(found, ['keys[1].name: "team" is already used by another key; give every key its own name']);
  });

  test("every problem is reported at once, not only the first", () => {
    const found = problems(`server: { port: 99999, drain_timeout: soon }\n${PROVIDERS}`);
    assert.equal(found.length, 2);
    assert.ok(found.some((p) => p.startsWith("server.port:")));
    assert.ok(found.some((p) => p.startsWith("server.drain_timeout:")));
  });

  test("a vendor whose key is in the environment joins by itself, unless turned off", () => {
    const env = { OPENAI_API_KEY: "sk-x", GROQ_API_KEY: "gsk-x", GEMINI_API_KEY: "AIza-x" };
    const config = parseConfig(`${PROVIDERS}\nroutes: [{ name: r, targets: [{ model: openai/gpt-4o-mini }, { model: groq/llama-3.3-70b-versatile }] }]`, "ok.yaml", { env });
    assert.deepEqual(config.providers.map((p) => p.name), ["sim", "openai", "gemini", "groq"]);
    const groq = config.providers.find((p) => p.name === "groq")?.kind;
    assert.equal(groq?.case === "openai" ? groq.value.baseUrl : "", "https://api.groq.com/openai/v1");
    const off = parseConfig(`auto_providers: false\n${PROVIDERS}`, "ok.yaml", { env });
    assert.deepEqual(off.providers.map((p) => p.name), ["sim"]);
    assert.throws(() => parseConfig(`${PROVIDERS}\nroutes: [{ name: r, targets: [{ model: openai/gpt-4o }] }]`, "bad.yaml", { env: {} }), /no provider named "openai"/);
  });

  test("a secret written where its reference belongs is never echoed: the error says what was expected, that the value is withheld, and how to fix it", async () => {
    const key = "sk-live-c4n4ry";
    const cases: [string, RegExp][] = [
      [`providers: [{ name: o, openai: { api_key: ${key} } }]`, /^providers\[0\]\.openai\.api_key: expected a mapping of fields, got a string \(withheld.*write api_key: \{ env: OPENAI_API_KEY \}.*\{ file: /],
      [`providers: [{ name: a, anthropic: { api_key: [${key}] } }]`, /^providers\[0\]\.anthropic\.api_key: expected a mapping of fields, got a list; .*env: ANTHROPIC_API_KEY/],
      [`providers: [{ name: g, gemini: { api_key: { env: ${key} } } }]`, /^providers\[0\]\.gemini\.api_key\.env: is not a variable name .*withheld.*env: GEMINI_API_KEY/],
      [`providers: [{ name: o, openai: { api_key: { ${key}: x } } }]`, /^providers\[0\]\.openai\.api_key\[\(a name withheld\)\]: unknown field/],
      [`providers: [{ name: o, openai: { api_key: { file: 4242424242 } } }]`, /^providers\[0\]\.openai\.api_key\.file: expected a string, got a number \(withheld/],
      [`providers: [{ name: o, openai: { headers: { authorization: 4242424242, x-api-key: true } } }]`, /^providers\[0\]\.openai\.headers\["authorization"\]: expected a string, got a number \(withheld/],
      [`keys: [{ name: k, sha256: 4242424242 }]`, /^keys\[0\]\.sha256: expected a string, got a number \(withheld/],
      [`providers: [{ name: o, openai: { base_url: "ftp://u:${key}@example.com" } }]`, /^providers\[0\]\.openai\.base_url: "ftp:\/\/\(credentials withheld\)@example\.com" is not/],
      [`idempotency: { redis_url: "tcp://:${key}@cache:6379" }`, /^idempotency\.redis_url: "tcp:\/\/\(credentials withheld\)@cache:6379" is not/],
      [`providers:\n  - name: o\n    openai:\n      api_key: *${key}\n`, /^YAML: Unresolved alias \(the anchor must be set before the alias\)$/],
    ];
    for (const [yaml, expected] of cases) {
      const got = problems(yaml);
      assert.match(got[0] ?? "", expected, yaml);
      for (const p of got) assert.ok(!p.includes(key) && !p.includes("c4n4ry") && !p.includes("4242424242"), `${yaml}: the value is echoed: ${p}`);
    }
    const dir = await mkdtemp(join(tmpdir(), "detour-"));
    await writeFile(join(dir, "leaky.yaml"), `providers:\n  - name: o\n    openai: { api_key: ${key} }\nroutes: [{ name: r, targets: [{ model: o/gpt-4o-mini }] }]\n`);
    let out = "";
    assert.equal(await checkCommand(["--route", "r", "--config", join(dir, "leaky.yaml")], (s) => (out += s)), 2);
    assert.match(out, /api_key: expected a mapping of fields, got a string \(withheld/, "detour check says what is wrong");
    assert.ok(!out.includes("c4n4ry"), `detour check echoes the key: ${out}`);
  });

  test("a missing file says to check the path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "detour-"));
    await assert.rejects(loadConfigFile(join(dir, "nope.yaml")), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /cannot read the file \(ENOENT\): check the path given to --config or DETOUR_CONFIG/);
      return true;
    });
    const file = join(dir, "ok.yaml");
    await writeFile(file, PROVIDERS);
    assert.equal((await loadConfigFile(file)).providers.length, 1);
  });
});
