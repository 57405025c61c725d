/**
 * A caller cannot create state by inventing model names: a direct
 * "provider/model" call is refused at planning unless the catalog, the
 * config or the provider's allowed_models know the model, and the breakers
 * kept per model are a bounded LRU whose evicted breakers are shut down.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { TargetRefSchema } from "../../gen/detour/v1/result_pb.js";
import { createBreakers } from "../../src/breakers/breakers.js";
import { parseConfig } from "../../src/config/load.js";
import { createPlanner } from "../../src/gateway/plan.js";
import { createProviders } from "../../src/providers/registry.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

describe("direct calls to models nobody configured", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(SIM_CONFIG.replace("breaker: { disabled: true }", ""));
  });
  after(() => t.close());

  const chat = async (model: string) => {
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    });
    return { status: r.status, body: (await r.json()) as { error?: { message: string; param: string } } };
  };

  test("are refused naming the model, the provider and allowed_models", async () => {
    const { status, body } = await chat("sim/bogus-1");
    assert.equal(status, 404);
    assert.equal(body.error?.param, "model");
    assert.match(body.error?.message ?? "", /"sim\/bogus-1" is not a model the catalog or the config knows for provider sim/);
    assert.match(body.error?.message ?? "", /providers\[\]\.allowed_models/);
  });

  test("a near miss suggests the model meant", async () => {
    const { body } = await chat("sim/fsat");
    assert.match(body.error?.message ?? "", /did you mean "sim\/fast"\?/);
  });

  test("300 invented names leave no breaker behind", async () => {
    const before = t.app.gateway.breakers.list().length;
    for (let i = 0; i < 300; i++) assert.equal((await chat(`sim/bogus-${i}`)).status, 404);
    assert.equal(t.app.gateway.breakers.list().length, before);
  });

  test("configured models are still served directly", async () => {
    assert.equal((await chat("sim/fast")).status, 200);
  });
});

test("allowed_models patterns let matching names through, and only those", () => {
  const config = parseConfig(
    `providers: [{ name: sim, allowed_models: ["ft:gpt-4o*"], simulated: { models: [{ name: fast }] } }]`,
    "t.yaml",
    { env: {} },
  );
  const planner = createPlanner(config, createProviders(config), 1_000);
  assert.equal(planner.plan("sim/ft:gpt-4o-mini:acme:1").targets[0]?.id, "sim/ft:gpt-4o-mini:acme:1");
  assert.throws(() => planner.plan("sim/ft:gpt-3.5"), /allowed_models/);
  const any = parseConfig(`providers: [{ name: sim, allowed_models: ["*"], simulated: { models: [{ name: fast }] } }]`, "t.yaml", { env: {} });
  assert.equal(createPlanner(any, createProviders(any), 1_000).plan("sim/anything").targets.length, 1);
});

test("model breakers are an LRU: the oldest is shut down past the cap", () => {
  const breakers = createBreakers(undefined, 4);
  const ref = (model: string) => create(TargetRefSchema, { provider: "p", model });
  breakers.admit(ref("m0")).settle();
  const first = breakers.events("p/m0") as unknown as { isShutdown: boolean };
  for (let i = 1; i < 10; i++) breakers.admit(ref(`m${i}`)).settle();
  // Using m6 again keeps it: m7, m8, m9 and m6 are the four most recent.
  breakers.admit(ref("m6")).settle();
  breakers.admit(ref("m10")).settle();
  const kept = breakers.list().map((s) => s.target?.model).sort();
  assert.deepEqual(kept, ["", "m10", "m6", "m8", "m9"]);
  assert.equal(first.isShutdown, true, "the evicted breaker's timers were stopped");
  breakers.close();
});
