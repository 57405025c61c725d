import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AttemptOutcome, Decision, FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { createBreakers } from "../../src/breakers/breakers.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { createGateway, type Gateway, type GatewayDeps } from "../../src/gateway/gateway.js";
import type { Provider, ProviderEvent } from "../../src/providers/types.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider, untilAborted } from "../helpers/scripted-provider.js";
import { seededRandom } from "../../src/providers/simulated.js";
import { oneAtATime } from "../helpers/one-at-a-time.js";

const signal = new AbortController().signal;

async function* answer(text: string): AsyncGenerator<ProviderEvent> {
  yield { type: "text", text };
  yield { type: "usage", usage: create(UsageSchema, { inputTokens: 100, outputTokens: 10, totalTokens: 110 }) };
  yield { type: "finish", reason: FinishReason.STOP };
}

function failing(reason: ConstructorParameters<typeof GatewayError>[0], status: number, retryAfterMs?: number) {
  return async function* (): AsyncGenerator<ProviderEvent> {
    throw new GatewayError(reason, `upstream said ${status}`, { upstreamStatus: status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  };
}

/** A gateway over scripted providers a, b, c (model "m" each) with one route "r". */
function gateway(providers: Provider[], route: string, extra: Partial<GatewayDeps> = {}, top = ""): { gw: Gateway; waits: number[] } {
  const names = providers.map((p) => p.name);
  const config = parseConfig(
    `${top}
providers:
${names.map((n) => `  - { name: ${n}, simulated: { models: [{ name: m }, { name: big }] } }`).join("\n")}
routes:
  - name: r
    ${route}
`,
    "test.yaml",
    { env: {} },
  );
  const waits: number[] = [];
  const gw = createGateway(config, {
    providers: new Map(providers.map((p) => [p.name, p])),
    breakers: createBreakers({ $typeName: "detour.v1.BreakerConfig", window: "", volumeThreshold: 0, errorThresholdPercent: 0, resetTimeout: "", disabled: true }),
    random: () => 0.5,
    wait: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  });
  return { gw, waits };
}

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GatewayError, String(e));
    return e;
  }
  assert.fail("expected a failure");
}

describe("routing", () => {
  test("429 → fallback to the next target", async () => {
    const a = scriptedProvider("a", failing("RATE_LIMITED", 429, 60_000));
    const b = scriptedProvider("b", () => answer("from b"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.servedBy?.provider, "b");
    assert.equal(res.attempts[0]?.reason, "RATE_LIMITED");
    assert.equal(res.attempts[0]?.decision, Decision.FALLBACK);
  });

  test("503 is retried on the same target with full-jitter backoff, then succeeds", async () => {
    let calls = 0;
    const a = scriptedProvider("a", (call) => (++calls < 3 ? failing("UPSTREAM_UNAVAILABLE", 503)() : answer(`call ${calls} ${call.model}`)));
    const { gw, waits } = gateway([a], "targets: [{ model: a/m, retries: 2 }]\n    backoff: { base: 100ms, max: 1s }");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.message?.content[0]?.part.value, "call 3 m");
    assert.deepEqual(
      res.attempts.map((x) => [x.retry, x.decision]),
      [
        [0, Decision.RETRY],
        [1, Decision.RETRY],
        [2, Decision.RETURN],
      ],
    );
    // random() = 0.5: half of base×2^0 = 50ms, then half of base×2^1 = 100ms.
    assert.deepEqual(waits, [50, 100]);
    assert.equal(res.attempts[0]?.backoff?.nanos, 50_000_000);
  });

  test("Retry-After is honoured when it fits the deadline", async () => {
    let calls = 0;
    const a = scriptedProvider("a", () => (++calls === 1 ? failing("RATE_LIMITED", 429, 2_000)() : answer("ok")));
    const { gw, waits } = gateway([a], "deadline: 30s\n    targets: [{ model: a/m, retries: 1 }]");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.deepEqual(waits, [2000]);
    assert.equal(res.attempts.length, 2);
  });

  test("a Retry-After past the deadline is not waited for: the next target goes at once", async () => {
    const a = scriptedProvider("a", failing("RATE_LIMITED", 429, 120_000));
    const b = scriptedProvider("b", () => answer("from b"));
    const { gw, waits } = gateway([a, b], "deadline: 10s\n    targets: [{ model: a/m, retries: 3 }, { model: b/m }]");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.deepEqual(waits, []);
    assert.equal(a.calls.length, 1);
    assert.equal(res.servedBy?.provider, "b");
  });

  test("the retry budget stops retries once failures drain it", async () => {
    const a = scriptedProvider("a", failing("UPSTREAM_ERROR", 500));
    const b = scriptedProvider("b", () => answer("from b"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m, retries: 5 }, { model: b/m }]\n    retry_budget: { max_tokens: 4, token_ratio: 0.1 }");
    const first = await gw.complete(userRequest("r"), { signal });
    // 4 tokens, retries allowed while more than 2 are left: the first failure
    // (3 left) may retry, the second (2 left) falls back.
    assert.equal(first.attempts.filter((x) => x.target?.provider === "a").length, 2);
    const second = await gw.complete(userRequest("r"), { signal });
    assert.equal(second.attempts.filter((x) => x.target?.provider === "a").length, 1, "no retries left in the budget");
  });

  test("a deterministic 400 fails fast, the next target untouched", async () => {
    const a = scriptedProvider("a", failing("UPSTREAM_BAD_REQUEST", 400));
    const b = scriptedProvider("b", () => answer("unused"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m, retries: 3 }, { model: b/m }]");
    const err = await rejection(gw.complete(userRequest("r"), { signal }));
    assert.equal(err.reason, "UPSTREAM_BAD_REQUEST");
    assert.equal(a.calls.length, 1);
    assert.equal(b.calls.length, 0);
  });

  test("the decision table can be overridden per route", async () => {
    const a = scriptedProvider("a", failing("UPSTREAM_BAD_REQUEST", 400));
    const b = scriptedProvider("b", () => answer("b saved it"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]\n    on_error: { UPSTREAM_BAD_REQUEST: fallback }");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.servedBy?.provider, "b");
  });

  test("an unknown reason in on_error is a config error", () => {
    assert.throws(
      () => parseConfig(`providers: [{ name: a, simulated: { models: [{ name: m }] } }]\nroutes: [{ name: r, targets: [{ model: a/m }], on_error: { RATE_LIMITD: fail } }]`, "t", { env: {} }),
      /routes\[0\]\.on_error\["RATE_LIMITD"\]: not a reason \(did you mean "RATE_LIMITED"\?\)/,
    );
  });

  test("capability pruning: fail fast listing each target and why", async () => {
    const a = scriptedProvider("a", () => answer("x"));
    const config = `targets: [{ model: a/m }]`;
    const { gw } = gateway([a], config);
    const err = await rejection(gw.complete(userRequest("r", "x", { sampling: { topK: 5 } }), { signal }));
    assert.equal(err.reason, "CAPABILITY_MISMATCH");
    assert.equal(err.code, 9 /* FAILED_PRECONDITION */);
    assert.match(err.message, /^no target can serve this request: a\/m does not support the parameter top_k$/);
    assert.equal(err.attempts[0]?.outcome, AttemptOutcome.SKIPPED);
    assert.equal(a.calls.length, 0);
  });

  test("a target that cannot honour the request is skipped, the next one serves", async () => {
    const a = scriptedProvider("a", () => answer("x"), ["m"]);
    const b = scriptedProvider("b", () => answer("b has top_k"), ["m"]);
    b.describe = (model) => ({ ...a.models()[0]!, name: model, capabilities: { ...a.models()[0]!.capabilities, samplingParams: ["top_k"] } });
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]");
    const res = await gw.complete(userRequest("r", "x", { sampling: { topK: 5 } }), { signal });
    assert.equal(res.servedBy?.provider, "b");
    assert.equal(res.attempts[0]?.reason, "CAPABILITY_MISMATCH");
    assert.equal(a.calls.length, 0);
  });

  test("a cost ceiling drops targets over it before the first hop", async () => {
    const a = scriptedProvider("a", () => answer("pricey"));
    const b = scriptedProvider("b", () => answer("cheap"));
    b.models = () => [{ ...a.models()[0]!, pricing: { ...a.models()[0]!.pricing, inputPerMtok: 0.01, outputPerMtok: 0.01 } }];
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]");
    const req = userRequest("r", "x".repeat(400), { sampling: { maxOutputTokens: 1000 }, routing: { maxCostUsd: 0.0005 } });
    const res = await gw.complete(req, { signal });
    assert.equal(res.servedBy?.provider, "b");
    assert.equal(res.attempts[0]?.reason, "COST_LIMIT");
    assert.match(res.attempts[0]?.message ?? "", /a\/m may cost up to 0\.002100 USD, over the ceiling of 0\.0005 USD/);
    assert.equal(a.calls.length, 0);
  });

  test("tiers ordered by cost put the cheaper target first", async () => {
    const a = scriptedProvider("a", () => answer("pricey"));
    const b = scriptedProvider("b", () => answer("cheap"));
    b.models = () => [{ ...a.models()[0]!, pricing: { ...a.models()[0]!.pricing, inputPerMtok: 0.01, outputPerMtok: 0.01 } }];
    const { gw } = gateway([a, b], "tier_order: cost\n    targets: [{ model: a/m, tier: 0 }, { model: b/m, tier: 0 }]");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.servedBy?.provider, "b");
  });

  test("weights balance the targets of one tier", async () => {
    const a = scriptedProvider("a", () => answer("a"));
    const b = scriptedProvider("b", () => answer("b"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m, tier: 0, weight: 1 }, { model: b/m, tier: 0, weight: 3 }]", { random: seededRandom(42) });
    const served = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) served[(await gw.complete(userRequest("r"), { signal })).servedBy?.provider as "a" | "b"]++;
    // Weighted 1:3, so about 100:300 (a seeded generator keeps this exact run repeatable).
    assert.ok(served.b > 250 && served.b < 350, `b served ${served.b} of 400`);
  });

  test("the response reports the cost of the answer and of wasted hops", async () => {
    const a = scriptedProvider("a", async function* () {
      yield { type: "usage", usage: create(UsageSchema, { inputTokens: 1000, outputTokens: 0 }) };
      throw new GatewayError("STREAM_DROPPED", "cut", { upstreamStatus: 200 });
    });
    const b = scriptedProvider("b", () => answer("ok"));
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]");
    const res = await gw.complete(userRequest("r"), { signal });
    // Scripted prices: 1 USD/Mtok in, 2 USD/Mtok out.
    assert.equal(res.cost?.wastedUsd, 0.001);
    assert.equal(res.cost?.answerUsd, (100 * 1 + 10 * 2) / 1e6);
    assert.equal(res.attempts[0]?.costUsd, 0.001);
  });

  test("a 3-hop chain completes inside one deadline, each hop bounded by its slice", async () => {
    const hang = async function* (call: { signal: AbortSignal }): AsyncGenerator<ProviderEvent> {
      await untilAborted(call.signal);
    };
    const a = scriptedProvider("a", hang);
    const b = scriptedProvider("b", hang);
    const c = scriptedProvider("c", () => answer("third time lucky"));
    const { gw } = gateway([a, b, c], "deadline: 900ms\n    min_slice: 300ms\n    targets: [{ model: a/m }, { model: b/m }, { model: c/m }]");
    // Each hop ends at its slice, so the last target is reached before the
    // deadline: a slice overrun would end in DEADLINE_EXCEEDED instead.
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.servedBy?.provider, "c");
    assert.deepEqual(
      res.attempts.map((x) => x.reason),
      ["UPSTREAM_TIMEOUT", "UPSTREAM_TIMEOUT", ""],
    );
  });

  test("after a context-length failure only a target with a bigger window is tried", async () => {
    const withWindow = (p: ReturnType<typeof scriptedProvider>, window: number) => {
      p.describe = (model) => ({ ...p.models()[0]!, name: model, capabilities: { ...p.models()[0]!.capabilities, contextWindow: window } });
      return p;
    };
    const a = withWindow(scriptedProvider("a", failing("CONTEXT_LENGTH_EXCEEDED", 400)), 8_000);
    const b = withWindow(scriptedProvider("b", () => answer("unused")), 8_000);
    const c = withWindow(scriptedProvider("c", () => answer("the big one")), 200_000);
    const { gw } = gateway([a, b, c], "targets: [{ model: a/m }, { model: b/m }, { model: c/m }]");
    const res = await gw.complete(userRequest("r"), { signal });
    assert.equal(res.servedBy?.provider, "c");
    assert.equal(b.calls.length, 0);
    assert.equal(res.attempts[1]?.outcome, AttemptOutcome.SKIPPED);
    assert.equal(res.attempts[1]?.reason, "CONTEXT_LENGTH_EXCEEDED");
  });

  test("hedging: the slow target keeps racing; the rival's first token wins and the loser is cancelled upstream", async () => {
    const a = scriptedProvider("a", async function* (call) {
      await untilAborted(call.signal);
    });
    const b = scriptedProvider("b", () => answer("b was first"));
    const { gw } = gateway([a, b], "hedging: true\n    targets: [{ model: a/m, ttft_timeout: 20ms }, { model: b/m }]");
    const aborted = a.nextAbort();
    const events = [];
    for await (const ev of oneAtATime(gw.stream(userRequest("r", "x".repeat(400)), { signal }))) events.push(ev);
    await aborted;
    const done = events.at(-1)?.event;
    assert.equal(done?.case, "done");
    if (done?.case !== "done") return;
    assert.equal(done.value.servedBy?.provider, "b");
    const loser = done.value.attempts.find((x) => x.target?.provider === "a");
    assert.equal(loser?.outcome, AttemptOutcome.CANCELLED);
    assert.equal(loser?.reason, "HEDGE_LOST");
    assert.ok((loser?.costUsd ?? 0) > 0, "the loser's prompt spend is recorded");
    assert.equal(done.value.cost?.wastedUsd, loser?.costUsd);
    const hop = events.find((e) => e.event.case === "hop")?.event;
    assert.deepEqual(hop?.case === "hop" ? [hop.value.from?.provider, hop.value.to?.provider, hop.value.reason] : [], ["a", "b", "TTFT_TIMEOUT"]);
    const firstContent = events.findIndex((e) => e.event.case === "content");
    assert.ok(events.findIndex((e) => e.event.case === "hop") < firstContent, "the hop is announced before the winner's tokens");
  });

  test("hedging: when the slow target answers first after all, it wins and the rival is cancelled", async () => {
    let rivalStarted!: () => void;
    const started = new Promise<void>((resolve) => (rivalStarted = resolve));
    const a = scriptedProvider("a", async function* () {
      await started;
      yield* answer("a, late but first");
    });
    const b = scriptedProvider("b", async function* (call) {
      rivalStarted();
      await untilAborted(call.signal);
    });
    const { gw } = gateway([a, b], "hedging: true\n    targets: [{ model: a/m, ttft_timeout: 20ms }, { model: b/m }]");
    const aborted = b.nextAbort();
    const res = await gw.complete(userRequest("r"), { signal });
    await aborted;
    assert.equal(res.servedBy?.provider, "a");
    assert.equal(res.message?.content[0]?.part.value, "a, late but first");
    const rival = res.attempts.find((x) => x.target?.provider === "b");
    assert.equal(rival?.outcome, AttemptOutcome.CANCELLED);
    assert.equal(rival?.reason, "HEDGE_LOST");
  });

  test("max_hops caps the attempts", async () => {
    const a = scriptedProvider("a", failing("UPSTREAM_ERROR", 500));
    const b = scriptedProvider("b", failing("UPSTREAM_ERROR", 500));
    const { gw } = gateway([a, b], "max_hops: 2\n    targets: [{ model: a/m, retries: 3 }, { model: b/m, retries: 3 }]");
    const err = await rejection(gw.complete(userRequest("r"), { signal }));
    assert.equal(err.attempts.length, 2);
    assert.match(err.message, /max_hops \(2\) was reached/);
  });

  test("a breaker opens after failures, skips its target at once, and a half-open probe closes it", async () => {
    let healthy = false;
    const a = scriptedProvider("a", () => (healthy ? answer("a is back") : failing("UPSTREAM_UNAVAILABLE", 503)()));
    const b = scriptedProvider("b", () => answer("from b"));
    const breakers = createBreakers({
      $typeName: "detour.v1.BreakerConfig",
      window: "10s",
      volumeThreshold: 3,
      errorThresholdPercent: 50,
      resetTimeout: "100ms",
      disabled: false,
    });
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]", { breakers });
    for (let i = 0; i < 3; i++) await gw.complete(userRequest("r"), { signal });
    const ref = { $typeName: "detour.v1.TargetRef" as const, provider: "a", model: "m" };
    assert.equal(breakers.state(ref), BreakerState.OPEN);
    const skipped = await gw.complete(userRequest("r"), { signal });
    assert.equal(skipped.attempts[0]?.reason, "BREAKER_OPEN");
    assert.equal(skipped.attempts[0]?.outcome, AttemptOutcome.SKIPPED);
    assert.equal(a.calls.length, 3, "the open breaker kept the call from a");
    const open = breakers.list().find((x) => x.target?.model === "m");
    assert.ok(open?.nextProbeTime, "an open breaker says when it probes next");

    healthy = true;
    await waitForHalfOpen(breakers, ref);
    const probe = await gw.complete(userRequest("r"), { signal });
    assert.equal(probe.servedBy?.provider, "a");
    assert.equal(breakers.state(ref), BreakerState.CLOSED);
    breakers.close();
  });

  test("a caller's 4xx never opens a breaker", async () => {
    const a = scriptedProvider("a", failing("UPSTREAM_BAD_REQUEST", 400));
    const b = scriptedProvider("b", () => answer("b"));
    const breakers = createBreakers({ $typeName: "detour.v1.BreakerConfig", window: "10s", volumeThreshold: 2, errorThresholdPercent: 10, resetTimeout: "10s", disabled: false });
    const { gw } = gateway([a, b], "targets: [{ model: a/m }, { model: b/m }]", { breakers });
    for (let i = 0; i < 5; i++) await rejection(gw.complete(userRequest("r"), { signal }));
    assert.equal(breakers.state({ $typeName: "detour.v1.TargetRef", provider: "a", model: "m" }), BreakerState.CLOSED);
    breakers.close();
  });
});

/** Resolves when the breaker turns half-open (its reset timer fired). */
async function waitForHalfOpen(breakers: ReturnType<typeof createBreakers>, ref: { provider: string; model: string }): Promise<void> {
  const emitter = breakers.events(`${ref.provider}/${ref.model}`);
  if (emitter) await once(emitter, "halfOpen");
}
