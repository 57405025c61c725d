import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FinishReason, UsageSchema } from "../../gen/detour/v1/result_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import type { GatewayEvent } from "../../src/gateway/events.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { createMemoryStore } from "../../src/idempotency/memory.js";
import { createRedisStore } from "../../src/idempotency/redis.js";
import type { IdempotencyStore } from "../../src/idempotency/store.js";
import type { ProviderEvent } from "../../src/providers/types.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider } from "../helpers/scripted-provider.js";
import { oneAtATime } from "../helpers/one-at-a-time.js";

const signal = new AbortController().signal;

/** An upstream that counts its calls and answers when the test lets it. */
function upstream() {
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  let failNext: GatewayError | undefined;
  const p = scriptedProvider("up", async function* (): AsyncGenerator<ProviderEvent> {
    if (failNext) {
      const f = failNext;
      failNext = undefined;
      throw f;
    }
    yield { type: "text", text: "first half, " };
    await gate;
    yield { type: "text", text: "second half." };
    yield { type: "usage", usage: create(UsageSchema, { inputTokens: 3, outputTokens: 4, totalTokens: 7 }) };
    yield { type: "finish", reason: FinishReason.STOP };
  });
  return {
    provider: p,
    open: () => release(),
    close: () => (gate = new Promise<void>((resolve) => (release = resolve))),
    failWith: (e: GatewayError) => (failNext = e),
  };
}

function gatewayWith(store: IdempotencyStore, up: ReturnType<typeof upstream>): Gateway {
  const config = parseConfig(`providers: [{ name: up, simulated: { models: [{ name: m }] } }]\nbreaker: { disabled: true }`, "t", { env: {} });
  return createGateway(config, { providers: new Map([["up", up.provider]]), idempotency: store });
}

async function drain(it: AsyncIterable<GatewayEvent>): Promise<GatewayEvent[]> {
  const out: GatewayEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

const text = (evs: GatewayEvent[]) => evs.map((e) => (e.event.case === "content" ? e.event.value.text : "")).join("");

function suite(name: string, makeStore: () => Promise<IdempotencyStore | string>) {
  describe(`idempotency (${name} store)`, () => {
    let store: IdempotencyStore | undefined;
    let skip: string | undefined;
    before(async () => {
      const s = await makeStore();
      if (typeof s === "string") skip = s;
      else store = s;
    });
    after(() => store?.close());

    test("100 concurrent calls with one ID: the upstream sees one call, all get the same answer", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      const gw = gatewayWith(store, up);
      const calls = Array.from({ length: 100 }, () => gw.complete(userRequest("up/m", "hi", { requestId: `same-${name}` }), { signal }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      up.open();
      const answers = await Promise.all(calls);
      assert.equal(up.provider.calls.length, 1);
      assert.ok(answers.every((a) => a.message?.content[0]?.part.value === "first half, second half." && a.id === answers[0]?.id));
      assert.equal(answers.filter((a) => !a.replayed).length, 1, "one caller executed, the others joined");
    });

    test("a repeat after completion returns the stored result, marked replayed, without a call", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      const first = await gw.complete(userRequest("up/m", "hi", { requestId: `done-${name}` }), { signal });
      const again = await gw.complete(userRequest("up/m", "hi", { requestId: `done-${name}` }), { signal });
      assert.equal(up.provider.calls.length, 1);
      assert.equal(first.replayed, false);
      assert.equal(again.replayed, true);
      assert.equal(again.id, first.id);
      assert.equal(again.message?.content[0]?.part.value, first.message?.content[0]?.part.value);
    });

    test("another key sending the same body and ID is not given the first key's stored answer", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      const a = await gw.complete(userRequest("up/m", "hi", { requestId: `scoped-${name}` }), { signal, scope: "team-a" });
      const b = await gw.complete(userRequest("up/m", "hi", { requestId: `scoped-${name}` }), { signal, scope: "team-b" });
      assert.equal(b.replayed, false, "key B's request ran on its own");
      assert.notEqual(b.id, a.id);
      assert.equal(up.provider.calls.length, 2);
    });

    test("another key claiming an ID first does not make the owner's real request a 422", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      await gw.complete(userRequest("up/m", "squatted", { requestId: `claimed-${name}` }), { signal, scope: "team-b" });
      const a = await gw.complete(userRequest("up/m", "the real order", { requestId: `claimed-${name}` }), { signal, scope: "team-a" });
      assert.equal(a.replayed, false);
      assert.equal(a.message?.content[0]?.part.value, "first half, second half.");
    });

    test("the same ID with a different request is refused", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      await gw.complete(userRequest("up/m", "hi", { requestId: `mismatch-${name}` }), { signal });
      await assert.rejects(gw.complete(userRequest("up/m", "something else", { requestId: `mismatch-${name}` }), { signal }), (e: unknown) => {
        assert.ok(e instanceof GatewayError);
        assert.equal(e.reason, "IDEMPOTENCY_MISMATCH");
        assert.equal(e.httpStatus, 422);
        assert.equal(e.field, "request_id");
        return true;
      });
    });

    test("an invalid request with an ID is refused, naming the field, before it claims the ID", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      const bad = userRequest("up/m", "hi", { requestId: `invalid-${name}` });
      bad.messages[0]!.content = [];
      await assert.rejects(gw.complete(bad, { signal }), (e: unknown) => e instanceof GatewayError && e.reason === "INVALID_REQUEST" && /messages\[0\]\.content/.test(e.field ?? e.message));
      assert.equal(up.provider.calls.length, 0);
      // The ID was not taken: the corrected request runs under it.
      const good = await gw.complete(userRequest("up/m", "hi", { requestId: `invalid-${name}` }), { signal });
      assert.equal(good.message?.content[0]?.part.value, "first half, second half.");
      assert.equal(up.provider.calls.length, 1);
    });

    test("a transient failure frees the ID; a deterministic one is stored", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      up.open();
      const gw = gatewayWith(store, up);
      up.failWith(new GatewayError("UPSTREAM_UNAVAILABLE", "down", { upstreamStatus: 503 }));
      await assert.rejects(gw.complete(userRequest("up/m", "hi", { requestId: `transient-${name}` }), { signal }));
      const retried = await gw.complete(userRequest("up/m", "hi", { requestId: `transient-${name}` }), { signal });
      assert.equal(retried.replayed, false, "the retry executed");
      assert.equal(up.provider.calls.length, 2);

      up.failWith(new GatewayError("UPSTREAM_BAD_REQUEST", "no", { upstreamStatus: 400 }));
      await assert.rejects(gw.complete(userRequest("up/m", "bad", { requestId: `fatal-${name}` }), { signal }));
      await assert.rejects(gw.complete(userRequest("up/m", "bad", { requestId: `fatal-${name}` }), { signal }), /no/);
      assert.equal(up.provider.calls.length, 3, "the stored failure was returned without a call");
    });

    test("a streaming repeat joins: the events so far are replayed, then the live tail", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      const gw = gatewayWith(store, up);
      const req = () => userRequest("up/m", "hi", { requestId: `stream-${name}` });
      const first = oneAtATime(gw.stream(req(), { signal }))[Symbol.asyncIterator]();
      const seen: GatewayEvent[] = [];
      for (let r = await first.next(); !r.done; r = await first.next()) {
        seen.push(r.value);
        if (r.value.event.case === "content") break;
      }
      const joiner = drain(oneAtATime(gw.stream(req(), { signal })));
      await new Promise((resolve) => setTimeout(resolve, 50));
      up.open();
      for (let r = await first.next(); !r.done; r = await first.next()) seen.push(r.value);
      const joined = await joiner;
      assert.equal(text(joined), text(seen));
      assert.equal(text(joined), "first half, second half.");
      assert.equal(up.provider.calls.length, 1);
      const started = joined[0]?.event;
      assert.equal(started?.case === "started" && started.value.replayed, true);
      const replay = await drain(oneAtATime(gw.stream(req(), { signal })));
      assert.equal(text(replay), "first half, second half.", "a stream replays a finished execution too");
    });

    test("the owner's caller cancels mid-stream: a joiner takes over, executes once more and discards what it relayed", async (t) => {
      if (!store) return t.skip(skip);
      const up = upstream();
      const gw = gatewayWith(store, up);
      const req = () => userRequest("up/m", "hi", { requestId: `takeover-${name}` });
      const owner = new AbortController();
      const first = oneAtATime(gw.stream(req(), { signal: owner.signal }))[Symbol.asyncIterator]();
      for (let r = await first.next(); !r.done; r = await first.next()) if (r.value.event.case === "content") break;
      const joiner = drain(oneAtATime(gw.stream(req(), { signal })));
      await new Promise((resolve) => setTimeout(resolve, 50));
      owner.abort();
      await first.return(undefined);
      up.open();
      const joined = await joiner;
      const rewind = joined.findIndex((e) => e.event.case === "hop" && e.event.value.rewind && e.event.value.reason === "OWNER_LOST");
      assert.ok(rewind > 0, "the relayed output is discarded with a rewinding hop");
      assert.equal(text(joined.slice(rewind)), "first half, second half.");
      assert.equal(joined.at(-1)?.event.case, "done");
      assert.equal(up.provider.calls.length, 2, "the joiner executed once, after the owner went away");
    });
  });
}

suite("memory", async () => createMemoryStore({ ttlMs: 60_000, maxBytes: 1 << 20 }));

let redis: TestRedis | string | undefined;
suite("redis", async () => {
  redis = await startRedis();
  if (typeof redis === "string") return redis;
  return createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 300, prefix: `t${Date.now()}` });
});

describe("idempotency across replicas (redis)", () => {
  after(async () => {
    if (redis && typeof redis !== "string") await redis.stop();
  });

  test("the holder dies mid-request: its lease expires and a retry executes exactly once", async (t) => {
    if (!redis || typeof redis === "string") return t.skip(typeof redis === "string" ? redis : "redis-server did not start");
    const prefix = `crash${Date.now()}`;
    const replicaA = createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 300, prefix });
    const replicaB = createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 300, prefix });
    const upA = upstream();
    const upB = upstream();
    upB.open();
    const gwA = gatewayWith(replicaA, upA);
    const gwB = gatewayWith(replicaB, upB);
    const req = () => userRequest("up/m", "hi", { requestId: "crashy" });
    // Replica A claims the ID and starts, then "crashes": its connection dies, its lease is not renewed.
    const a = oneAtATime(gwA.stream(req(), { signal }))[Symbol.asyncIterator]();
    while ((await a.next()).value?.event.case !== "content");
    await replicaA.close();
    // Two retries arrive at replica B: exactly one executes, the other joins it.
    const [r1, r2] = await Promise.all([gwB.complete(req(), { signal }), gwB.complete(req(), { signal })]);
    assert.equal(upB.provider.calls.length, 1);
    assert.equal(r1.message?.content[0]?.part.value, "first half, second half.");
    assert.equal(r2.message?.content[0]?.part.value, "first half, second half.");
    await replicaB.close();
    upA.open();
    await a.return?.(undefined);
  });

  test("a retry following a dead holder still gets the answer when another replica took the ID over first", async (t) => {
    if (!redis || typeof redis === "string") return t.skip(typeof redis === "string" ? redis : "redis-server did not start");
    const prefix = `takeover${Date.now()}`;
    const replicaA = createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 300, prefix });
    // B polls the holder every 150 ms; C, with a short lease, every 10 ms: C notices the dead holder
    // first, takes the ID over and finishes, and B must notice the takeover rather than wait forever
    // for the dead holder's stream to end.
    const replicaB = createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 300, prefix });
    const replicaC = createRedisStore({ url: redis.url, ttlMs: 60_000, leaseMs: 20, prefix });
    const [upA, upB, upC] = [upstream(), upstream(), upstream()];
    upB.open();
    upC.open();
    const gwA = gatewayWith(replicaA, upA);
    const req = () => userRequest("up/m", "hi", { requestId: "taken-over" });
    const a = oneAtATime(gwA.stream(req(), { signal }))[Symbol.asyncIterator]();
    while ((await a.next()).value?.event.case !== "content");
    await replicaA.close();
    const slow = gatewayWith(replicaB, upB).complete(req(), { signal });
    const fast = gatewayWith(replicaC, upC).complete(req(), { signal });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("a retry never ended")), 5_000)));
    try {
      const [r1, r2] = await Promise.race([Promise.all([slow, fast]), late]);
      assert.equal(upB.provider.calls.length + upC.provider.calls.length, 1, "one execution between the two replicas");
      assert.equal(r1.message?.content[0]?.part.value, "first half, second half.");
      assert.equal(r2.message?.content[0]?.part.value, "first half, second half.");
    } finally {
      clearTimeout(timer);
      await replicaB.close();
      await replicaC.close();
      upA.open();
      await a.return?.(undefined);
    }
  });
});
