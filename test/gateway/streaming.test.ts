import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { CommitPolicy, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { createBreakers } from "../../src/breakers/breakers.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import type { GatewayEvent } from "../../src/gateway/events.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { createProviders } from "../../src/providers/registry.js";
import { seededRandom, tokenize } from "../../src/providers/simulated.js";
import type { Provider, ProviderEvent } from "../../src/providers/types.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider, untilAborted } from "../helpers/scripted-provider.js";
import { oneAtATime } from "../helpers/one-at-a-time.js";

const signal = new AbortController().signal;
const ANSWER = "The quick brown fox jumps over the lazy dog.";
const CALL = { id: "call_w", name: "get_weather", arguments: '{"city":"Paris"}' };

type Phase = "before the first byte" | "after the first delta" | "inside a tool-call argument" | "after the last delta, before usage";

/** A model that answers ANSWER (continuing a prefix of it), or a tool call. */
function model(name: string, fail?: Phase, tools = false): Provider & { requests: CompleteRequest[] } {
  const requests: CompleteRequest[] = [];
  const p = scriptedProvider(name, async function* (call): AsyncGenerator<ProviderEvent> {
    requests.push(call.request);
    if (fail === "before the first byte") throw new GatewayError("UPSTREAM_UNAVAILABLE", "down", { upstreamStatus: 503 });
    if (tools) {
      yield { type: "tool_call", index: 0, id: CALL.id, name: CALL.name, arguments: "" };
      yield { type: "tool_call", index: 0, arguments: '{"city":' };
      if (fail === "inside a tool-call argument") throw new GatewayError("STREAM_DROPPED", "cut");
      yield { type: "tool_call", index: 0, arguments: '"Paris"}' };
    } else {
      const last = call.request.messages.at(-1);
      const prefix = last?.role === Role.ASSISTANT ? last.content.map((c) => (c.part.case === "text" ? c.part.value : "")).join("") : "";
      const tokens = tokenize(ANSWER.startsWith(prefix) ? ANSWER.slice(prefix.length) : ANSWER);
      for (const [i, t] of tokens.entries()) {
        yield { type: "text", text: t };
        if (fail === "after the first delta" && i === 0) throw new GatewayError("STREAM_DROPPED", "cut");
      }
    }
    if (fail === "after the last delta, before usage") throw new GatewayError("STREAM_DROPPED", "cut");
    yield { type: "usage", usage: create(UsageSchema, { inputTokens: 5, outputTokens: 9, totalTokens: 14 }) };
    yield { type: "finish", reason: tools ? FinishReason.TOOL_CALLS : FinishReason.STOP };
  });
  const base = p.models()[0]!;
  p.describe = (m) => ({ ...base, name: m, capabilities: { ...base.capabilities, prefill: true } });
  return Object.assign(p, { requests });
}

function gatewayOf(providers: Provider[], route: string, top = ""): Gateway {
  const config = parseConfig(
    `${top}
breaker: { disabled: true }
providers:
${providers.map((p) => `  - { name: ${p.name}, simulated: { models: [{ name: m }] } }`).join("\n")}
routes:
  - name: r
    ${route}
`,
    "t",
    { env: {} },
  );
  return createGateway(config, { providers: new Map(providers.map((p) => [p.name, p])) });
}

/** What a careful client ends up with: it discards on rewind. */
async function consume(gw: Gateway, req: CompleteRequest) {
  const events: GatewayEvent[] = [];
  let text = "";
  const calls = new Map<number, { id: string; name: string; args: string }>();
  let error: GatewayError | undefined;
  try {
    for await (const ev of oneAtATime(gw.stream(req, { signal }))) {
      events.push(ev);
      const e = ev.event;
      if (e.case === "content") text += e.value.text;
      if (e.case === "toolCall") {
        const c = calls.get(e.value.index) ?? { id: "", name: "", args: "" };
        calls.set(e.value.index, { id: e.value.id || c.id, name: e.value.name || c.name, args: c.args + e.value.arguments });
      }
      if (e.case === "hop" && e.value.rewind) {
        text = "";
        for (const [i, c] of calls) if (!e.value.keptToolCallIds.includes(c.id)) calls.delete(i);
      }
    }
  } catch (e) {
    error = e as GatewayError;
  }
  const hops = events.flatMap((e) => (e.event.case === "hop" ? [e.event.value] : []));
  const terminal = events.filter((e) => e.event.case === "done").length + (error ? 1 : 0);
  return { events, text, calls: [...calls.values()], error, hops, terminal };
}

const POLICIES: [string, CommitPolicy][] = [
  ["fail", CommitPolicy.FAIL],
  ["continue", CommitPolicy.CONTINUE],
  ["restart", CommitPolicy.RESTART],
];

describe("streaming that never lies", () => {
  for (const [policyName, policy] of POLICIES) {
    test(`${policyName}: a drop before the first byte falls back transparently`, async () => {
      const gw = gatewayOf([model("a", "before the first byte"), model("b")], `commit_policy: ${policyName}\n    targets: [{ model: a/m }, { model: b/m }]`);
      const got = await consume(gw, userRequest("r"));
      assert.equal(got.text, ANSWER);
      assert.equal(got.terminal, 1);
      assert.equal(got.hops.length, 1, "observers still see the hop");
      assert.equal(got.hops[0]?.rewind, false);
      assert.equal(got.hops[0]?.deliveredChars, 0);
    });

    test(`${policyName}: a drop after the first delta`, async () => {
      const b = model("b");
      const gw = gatewayOf([model("a", "after the first delta"), b], `commit_policy: ${policyName}\n    targets: [{ model: a/m }, { model: b/m }]`);
      const got = await consume(gw, userRequest("r"));
      assert.equal(got.terminal, 1, "exactly one terminal event");
      if (policy === CommitPolicy.FAIL) {
        assert.equal(got.error?.reason, "STREAM_DROPPED");
        assert.deepEqual(got.error?.delivered, { chars: 4, toolCalls: 0 });
        assert.match(got.error?.message ?? "", /after 4 characters and 0 tool calls were delivered/);
        assert.equal(b.requests.length, 0);
        return;
      }
      assert.equal(got.error, undefined);
      assert.equal(got.text, ANSWER, "the caller ends with the whole answer");
      const hop = got.hops[0];
      assert.equal(hop?.deliveredChars, 4);
      if (policy === CommitPolicy.CONTINUE) {
        assert.equal(hop?.rewind, false);
        assert.equal(hop?.policy, CommitPolicy.CONTINUE);
        const last = b.requests[0]?.messages.at(-1);
        assert.equal(last?.role, Role.ASSISTANT, "the next target got the delivered text as a prefix");
        assert.equal(last?.content[0]?.part.value, "The ");
      } else {
        assert.equal(hop?.rewind, true);
        assert.equal(b.requests[0]?.messages.length, 1, "a restart sends the original request");
      }
    });

    test(`${policyName}: a drop inside a tool-call argument`, async () => {
      const gw = gatewayOf([model("a", "inside a tool-call argument", true), model("b", undefined, true)], `commit_policy: ${policyName}\n    targets: [{ model: a/m }, { model: b/m }]`);
      const got = await consume(gw, userRequest("r", "weather", { tools: [{ name: "get_weather" }] }));
      assert.equal(got.terminal, 1);
      if (policy === CommitPolicy.FAIL) {
        assert.deepEqual(got.error?.delivered, { chars: 0, toolCalls: 1 });
        return;
      }
      // Half a tool call cannot be continued: the hop rewinds, whatever the policy.
      assert.equal(got.hops[0]?.rewind, true);
      assert.deepEqual(got.hops[0]?.keptToolCallIds, []);
      assert.deepEqual(got.calls, [{ id: CALL.id, name: CALL.name, args: CALL.arguments }]);
    });

    test(`${policyName}: a drop after the last delta, before usage`, async () => {
      const b = model("b");
      const gw = gatewayOf([model("a", "after the last delta, before usage"), b], `commit_policy: ${policyName}\n    targets: [{ model: a/m }, { model: b/m }]`);
      const got = await consume(gw, userRequest("r"));
      assert.equal(got.terminal, 1);
      if (policy === CommitPolicy.FAIL) {
        assert.equal(got.error?.delivered?.chars, ANSWER.length);
        return;
      }
      assert.equal(got.text, ANSWER, "nothing is lost or said twice");
    });
  }

  test("continue without prefill asks the next target to continue after the delivered text", async () => {
    const b = model("b");
    const base = b.models()[0]!;
    b.describe = (m) => ({ ...base, name: m, capabilities: { ...base.capabilities, prefill: false } });
    const gw = gatewayOf([model("a", "after the first delta"), b], "commit_policy: continue\n    targets: [{ model: a/m }, { model: b/m }]");
    await consume(gw, userRequest("r"));
    const msgs = b.requests[0]?.messages ?? [];
    assert.deepEqual(
      msgs.slice(-2).map((m) => [m.role, m.content[0]?.part.value]),
      [
        [Role.ASSISTANT, "The "],
        [Role.USER, "Continue your previous answer exactly where it stopped. Do not repeat anything already written."],
      ],
    );
  });

  test("a tool call delivered whole is kept, listed in the hop, and not emitted again by the next target", async () => {
    const a = scriptedProvider("a", async function* () {
      yield { type: "tool_call", index: 0, id: CALL.id, name: CALL.name, arguments: CALL.arguments };
      throw new GatewayError("STREAM_DROPPED", "cut");
    });
    const b = scriptedProvider("b", async function* () {
      yield { type: "tool_call", index: 0, id: "call_dup", name: CALL.name, arguments: '{ "city": "Paris" }' };
      yield { type: "tool_call", index: 1, id: "call_new", name: "get_time", arguments: '{"tz":"CET"}' };
      yield { type: "finish", reason: FinishReason.TOOL_CALLS };
    });
    const gw = gatewayOf([a, b], "commit_policy: continue\n    targets: [{ model: a/m }, { model: b/m }]");
    const got = await consume(gw, userRequest("r", "x", { tools: [{ name: "get_weather" }, { name: "get_time" }] }));
    assert.deepEqual(got.hops[0]?.keptToolCallIds, [CALL.id]);
    assert.equal(got.hops[0]?.rewind, false);
    assert.deepEqual(got.calls, [
      { id: CALL.id, name: CALL.name, args: CALL.arguments },
      { id: "call_new", name: "get_time", args: '{"tz":"CET"}' },
    ]);
  });

  test("commit buffering keeps an early failure invisible", async () => {
    const gw = gatewayOf([model("a", "after the first delta"), model("b")], "commit_policy: fail\n    commit_buffer: { tokens: 3 }\n    targets: [{ model: a/m }, { model: b/m }]");
    const got = await consume(gw, userRequest("r"));
    assert.equal(got.error, undefined, "with 3 tokens held, a drop after 1 is not a committed failure");
    assert.equal(got.text, ANSWER);
    assert.equal(got.hops[0]?.deliveredChars, 0);
  });

  test("an upstream silent for the inter-token timeout counts as failed, and the answer continues elsewhere", async () => {
    const a = scriptedProvider("a", async function* (call) {
      yield { type: "text", text: "The " };
      await untilAborted(call.signal);
    });
    const gw = gatewayOf([a, model("b")], "commit_policy: continue\n    targets: [{ model: a/m, inter_token_timeout: 30ms }, { model: b/m }]");
    const got = await consume(gw, userRequest("r"));
    assert.equal(got.hops[0]?.reason, "INTER_TOKEN_TIMEOUT");
    assert.equal(got.text, ANSWER);
    assert.equal(a.calls[0]?.aborted, true);
  });

  test("mid-stream failures count against the breaker", async () => {
    const a = model("a", "after the first delta");
    const b = model("b");
    const config = parseConfig(`providers: [{ name: a, simulated: { models: [{ name: m }] } }, { name: b, simulated: { models: [{ name: m }] } }]\nroutes: [{ name: r, targets: [{ model: a/m }, { model: b/m }] }]`, "t", { env: {} });
    const breakers = createBreakers({ $typeName: "detour.v1.BreakerConfig", window: "10s", volumeThreshold: 3, errorThresholdPercent: 50, resetTimeout: "1m", disabled: false });
    const gw = createGateway(config, { providers: new Map<string, Provider>([["a", a], ["b", b]]), breakers });
    for (let i = 0; i < 3; i++) await consume(gw, userRequest("r"));
    assert.equal(breakers.state({ $typeName: "detour.v1.TargetRef", provider: "a", model: "m" }), BreakerState.OPEN);
    breakers.close();
  });

  test("a paused consumer pauses the upstream: nothing is buffered without bound", async () => {
    let produced = 0;
    const endless = scriptedProvider("a", async function* (call) {
      while (!call.signal.aborted) {
        produced++;
        yield { type: "text", text: "x" };
      }
    });
    const gw = gatewayOf([endless], "targets: [{ model: a/m }]");
    const it = oneAtATime(gw.stream(userRequest("r"), { signal }))[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) await it.next();
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(produced <= 11, `the upstream produced ${produced} tokens for 9 consumed`);
    await it.return?.(undefined);
    assert.equal(endless.calls[0]?.aborted, true, "returning early aborts the upstream");
  });

  test("the built-in default route recovers dropped streams: every stream finishes", async () => {
    const { BUILTIN_CONFIG_PATH } = await import("../../src/config/source.js");
    const { readFile } = await import("node:fs/promises");
    const yaml = (await readFile(BUILTIN_CONFIG_PATH, "utf8")).replace(/ttft: \d+ms/g, "ttft: 0ms").replace(/tokens_per_second: \d+/g, "tokens_per_second: 0");
    const config = parseConfig(yaml, "builtin", { env: {} });
    const gw = createGateway(config, { providers: createProviders(config, { simulated: { random: seededRandom(3) } }), breakers: createBreakers({ $typeName: "detour.v1.BreakerConfig", window: "", volumeThreshold: 0, errorThresholdPercent: 0, resetTimeout: "", disabled: true }) });
    const runs = await Promise.all(Array.from({ length: 30 }, () => consume(gw, userRequest("default", "Hello there Detour friend"))));
    assert.ok(runs.every((r) => r.terminal === 1 && r.error === undefined && r.text === "You said: Hello there Detour friend"));
    assert.ok(runs.some((r) => r.hops.some((h) => h.reason === "STREAM_DROPPED" && h.deliveredChars > 0)), "some stream was recovered after a mid-stream drop");
  });

  test("property: a stream's deltas and done event equal the unary answer", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.nat({ max: 40 }), fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 2 }), async (text, maxTokens, stop) => {
        const config = parseConfig(`providers: [{ name: s, simulated: { models: [{ name: m, output: { kind: text, text: ${JSON.stringify(text)} } }] } }]`, "t", { env: {} });
        const gw = createGateway(config, { providers: createProviders(config) });
        const req = userRequest("s/m", "hi", { sampling: { ...(maxTokens > 0 ? { maxOutputTokens: maxTokens } : {}), stop } });
        const streamed = await consume(gw, req);
        const unary = await gw.complete(req, { signal });
        assert.equal(streamed.text, unary.message?.content[0]?.part.value ?? "");
        const done = streamed.events.at(-1)?.event;
        assert.equal(done?.case, "done");
        if (done?.case === "done") {
          assert.equal(done.value.finishReason, unary.finishReason);
          assert.equal(done.value.usage?.outputTokens, unary.usage?.outputTokens);
        }
      }),
      { numRuns: 100 },
    );
  });
});
