import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AttemptOutcome, Decision, FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import type { GatewayEvent } from "../../src/gateway/events.js";
import { createProviders } from "../../src/providers/registry.js";
import type { Provider, ProviderEvent } from "../../src/providers/types.js";
import { SIM_CONFIG } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider, untilAborted } from "../helpers/scripted-provider.js";
import { oneAtATime } from "../helpers/one-at-a-time.js";

const signal = new AbortController().signal;

function simGateway(extraYaml = ""): Gateway {
  const config = parseConfig(SIM_CONFIG + extraYaml, "test.yaml");
  return createGateway(config, { providers: createProviders(config) });
}

/** A gateway whose providers "a" and "b" (model "m") are scripted by the test. */
function scriptedGateway(a: Provider, b: Provider, routeYaml = "targets: [{ model: a/m }, { model: b/m }]"): Gateway {
  const config = parseConfig(
    `providers:
  - { name: a, simulated: { models: [{ name: m }] } }
  - { name: b, simulated: { models: [{ name: m }] } }
routes:
  - { name: r, ${routeYaml} }
`,
    "test.yaml",
  );
  return createGateway(config, { providers: new Map([["a", a], ["b", b]]) });
}

async function* answer(text: string): AsyncGenerator<ProviderEvent> {
  yield { type: "text", text };
  yield { type: "usage", usage: create(UsageSchema, { inputTokens: 10, outputTokens: 1, totalTokens: 11 }) };
  yield { type: "finish", reason: FinishReason.STOP };
}

async function events(gw: Gateway, model: string): Promise<GatewayEvent[]> {
  const out: GatewayEvent[] = [];
  for await (const ev of oneAtATime(gw.stream(userRequest(model), { signal }))) out.push(ev);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GatewayError, `expected GatewayError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

describe("engine", () => {
  test("a failing primary falls back and the trail says why", async () => {
    const res = await simGateway().complete(userRequest("default"), { signal });
    assert.equal(res.message?.content[0]?.part.value, "hello from fast");
    assert.deepEqual(res.servedBy, { $typeName: "detour.v1.TargetRef", provider: "sim", model: "fast" });
    assert.equal(res.route, "default");
    assert.equal(res.finishReason, FinishReason.STOP);
    const [first, second] = res.attempts;
    assert.equal(res.attempts.length, 2);
    assert.equal(first?.target?.model, "failing");
    assert.equal(first?.outcome, AttemptOutcome.FAILED);
    assert.equal(first?.reason, "UPSTREAM_UNAVAILABLE");
    assert.equal(first?.upstreamStatus, 503);
    assert.equal(first?.decision, Decision.FALLBACK);
    assert.equal(second?.index, 1);
    assert.equal(second?.outcome, AttemptOutcome.SUCCEEDED);
    assert.equal(second?.decision, Decision.RETURN);
    assert.ok(second?.ttft, "the answering attempt records its time to first token");
  });

  test("a direct provider/model call needs no route", async () => {
    const res = await simGateway().complete(userRequest("sim/echo", "hi there"), { signal });
    assert.equal(res.message?.content[0]?.part.value, "You said: hi there");
    assert.equal(res.route, "");
  });

  test("a stream starts, hops, delivers and ends with exactly one done", async () => {
    const evs = await events(simGateway(), "default");
    const kinds = evs.map((e) => e.event.case);
    assert.equal(kinds[0], "started");
    assert.equal(kinds.at(-1), "done");
    assert.equal(kinds.filter((k) => k === "done").length, 1);
    const hop = evs.find((e) => e.event.case === "hop")?.event;
    assert.equal(hop?.case, "hop");
    if (hop?.case === "hop") {
      assert.equal(hop.value.from?.model, "failing");
      assert.equal(hop.value.to?.model, "fast");
      assert.equal(hop.value.reason, "UPSTREAM_UNAVAILABLE");
      assert.equal(hop.value.rewind, false);
    }
    const text = evs.map((e) => (e.event.case === "content" ? e.event.value.text : "")).join("");
    assert.equal(text, "hello from fast");
  });

  test("streamed deltas and the unary answer agree", async () => {
    const gw = simGateway();
    const evs = await events(gw, "sim/slow");
    const streamed = evs.map((e) => (e.event.case === "content" ? e.event.value.text : "")).join("");
    const unary = await gw.complete(userRequest("sim/slow"), { signal });
    assert.equal(streamed, unary.message?.content[0]?.part.value);
    const done = evs.at(-1)?.event;
    assert.equal(done?.case === "done" ? done.value.usage?.outputTokens : -1, unary.usage?.outputTokens);
  });

  test("tool calls are assembled from their deltas", async () => {
    const req = userRequest("sim/tools", "weather?", {
      tools: [{ name: "get_weather", parameters: { fields: {} } }],
    });
    const res = await simGateway().complete(req, { signal });
    assert.equal(res.finishReason, FinishReason.TOOL_CALLS);
    assert.equal(res.message?.toolCalls.length, 1);
    assert.equal(res.message?.toolCalls[0]?.name, "get_weather");
    assert.deepEqual(JSON.parse(res.message?.toolCalls[0]?.arguments ?? ""), { city: "Paris", unit: "c" });
    assert.match(res.message?.toolCalls[0]?.id ?? "", /^call_/);
  });

  test("when every target fails, the error is typed and carries the whole trail", async () => {
    const err = await rejection(simGateway().complete(userRequest("exhausted"), { signal }));
    assert.equal(err.reason, "RATE_LIMITED");
    assert.equal(err.retryAfterMs, 3000);
    assert.equal(err.attempts.length, 2);
    assert.ok(err.attempts.every((a) => a.reason === "RATE_LIMITED" && a.upstreamStatus === 429));
    assert.equal(err.attempts[1]?.decision, Decision.FAIL);
    assert.match(err.message, /^all 2 attempts failed: sim\/limited: RATE_LIMITED/);
    assert.match(err.id, /^chatcmpl-/);
  });

  test("a deterministic upstream 400 fails fast without touching the next target", async () => {
    const a = scriptedProvider("a", async function* () {
      throw new GatewayError("UPSTREAM_BAD_REQUEST", "max_tokens is too large", { upstreamStatus: 400 });
    });
    const b = scriptedProvider("b", () => answer("never"));
    const err = await rejection(scriptedGateway(a, b).complete(userRequest("r"), { signal }));
    assert.equal(err.reason, "UPSTREAM_BAD_REQUEST");
    assert.equal(b.calls.length, 0);
    assert.equal(err.attempts.length, 1);
    assert.equal(err.attempts[0]?.decision, Decision.FAIL);
  });

  test("a TTFT threshold aborts the slow attempt upstream and falls back", async () => {
    const a = scriptedProvider("a", async function* (call) {
      await untilAborted(call.signal);
    });
    const b = scriptedProvider("b", () => answer("fast enough"));
    const gw = scriptedGateway(a, b, "targets: [{ model: a/m, ttft_timeout: 30ms }, { model: b/m }]");
    const aborted = a.nextAbort();
    const res = await gw.complete(userRequest("r"), { signal });
    await aborted;
    assert.equal(a.calls[0]?.aborted, true);
    assert.equal(res.attempts[0]?.reason, "TTFT_TIMEOUT");
    assert.equal(res.message?.content[0]?.part.value, "fast enough");
  });

  test("the caller's deadline bounds the chain", async () => {
    const err = await rejection(simGateway().complete(userRequest("sim/hanging"), { signal, timeoutMs: 50 }));
    assert.equal(err.reason, "DEADLINE_EXCEEDED");
    assert.equal(err.attempts[0]?.decision, Decision.FAIL);
  });

  test("a caller cancel aborts the upstream call", async () => {
    const a = scriptedProvider("a", async function* (call) {
      yield { type: "text", text: "partial" };
      await untilAborted(call.signal);
    });
    const b = scriptedProvider("b", () => answer("unused"));
    const ctl = new AbortController();
    const stream = oneAtATime(scriptedGateway(a, b).stream(userRequest("r"), { signal: ctl.signal }));
    const aborted = a.nextAbort();
    for await (const ev of stream) {
      if (ev.event.case === "content") break;
    }
    await aborted;
    assert.equal(a.calls[0]?.aborted, true);
    assert.equal(b.calls.length, 0);
  });

  test("a stream that fails after delivering text ends with a typed error saying how much", async () => {
    const a = scriptedProvider("a", async function* () {
      yield { type: "text", text: "Hello, wor" };
      throw new GatewayError("STREAM_DROPPED", "the upstream closed the stream");
    });
    const b = scriptedProvider("b", () => answer("unused"));
    const gw = scriptedGateway(a, b, "commit_policy: fail, targets: [{ model: a/m }, { model: b/m }]");
    const seen: GatewayEvent[] = [];
    const err = await rejection(
      (async () => {
        for await (const ev of oneAtATime(gw.stream(userRequest("r"), { signal }))) seen.push(ev);
      })(),
    );
    assert.equal(err.reason, "STREAM_DROPPED");
    assert.deepEqual(err.delivered, { chars: 10, toolCalls: 0 });
    assert.equal(seen.filter((e) => e.event.case === "done").length, 0);
    assert.equal(b.calls.length, 0);
  });

  test("a unary call recovers from a mid-answer drop, since nothing reached the caller", async () => {
    const a = scriptedProvider("a", async function* () {
      yield { type: "text", text: "Hello, wor" };
      throw new GatewayError("STREAM_DROPPED", "the upstream closed the stream");
    });
    const b = scriptedProvider("b", () => answer("complete answer"));
    const res = await scriptedGateway(a, b).complete(userRequest("r"), { signal });
    assert.equal(res.message?.content[0]?.part.value, "complete answer");
    assert.equal(res.attempts[0]?.reason, "STREAM_DROPPED");
  });

  test("invalid requests name the field", async () => {
    const gw = simGateway();
    const noMessages = await rejection(gw.complete(userRequest("default", "x", { messages: [] }), { signal }));
    assert.equal(noMessages.reason, "INVALID_REQUEST");
    assert.match(noMessages.message, /^messages: /);
    const badTemp = await rejection(gw.complete(userRequest("default", "x", { sampling: { temperature: 7 } }), { signal }));
    assert.match(badTemp.message, /^sampling\.temperature: /);
    const badChoice = await rejection(
      gw.complete(userRequest("default", "x", { toolChoice: { choice: { case: "function", value: "nope" } } }), { signal }),
    );
    assert.match(badChoice.message, /^tool_choice\.function: "nope" is not one of the request's tools/);
  });

  test("an unknown model lists what can be named", async () => {
    const err = await rejection(simGateway().complete(userRequest("gpt-5"), { signal }));
    assert.equal(err.reason, "UNKNOWN_MODEL");
    assert.match(err.message, /^model: no route or provider named "gpt-5"; use a route \(default, exhausted, slow\) or a provider\/model \(sim\/<model>\)$/);
  });

  test("ListModels shows routes and models", () => {
    const models = simGateway().listModels();
    assert.deepEqual(
      models.routes.map((r) => r.name),
      ["default", "exhausted", "slow"],
    );
    assert.ok(models.models.some((m) => m.id === "sim/fast" && m.capabilities?.streaming));
  });
});
