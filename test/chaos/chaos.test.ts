/**
 * The short chaos run, for CI: the same suite `npm run chaos` runs for a
 * minute and more, sized to about ten seconds of load. Every violation — a
 * hang, an untyped error, a double execution, an unhandled rejection, a
 * breaker that never recovers, heap that does not come back, a request lost
 * at SIGTERM — fails the test and is listed. Below it, the callers that
 * vanish mid-stream, which the suite's load includes, pinned down one by one.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { request } from "undici";
import { BreakerState } from "../../gen/detour/v1/admin_pb.js";
import { formatReport, runSuite } from "../../chaos/suite.js";
import { createBreakers } from "../../src/breakers/breakers.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import type { ProviderEvent } from "../../src/providers/types.js";
import { openaiHandler } from "../../src/server/openai/handler.js";
import { createAuth } from "../../src/server/auth.js";
import { createStats } from "../../src/stats/stats.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider, untilAborted } from "../helpers/scripted-provider.js";
import { oneAtATime } from "../helpers/one-at-a-time.js";

test("under fault-injecting upstreams every request ends typed and on time, once per key, and SIGTERM loses none", { timeout: 120_000 }, async (t) => {
  const report = await runSuite({ durationMs: 8_000, workers: 12, seed: 11 });
  t.diagnostic(`\n${formatReport(report)}`);
  assert.deepEqual(report.violations, []);
  // The run proves something only if the faults reached the gateway.
  assert.ok(report.inProcess.tally.requests > 300, `only ${report.inProcess.tally.requests} requests`);
  assert.ok(Object.keys(report.inProcess.tally.typed).length >= 4, `typed errors: ${JSON.stringify(report.inProcess.tally.typed)}`);
  assert.ok(report.sigterm.accepted > 0);
});

describe("callers that vanish mid-stream", () => {
  const config = parseConfig("providers: [{ name: a, simulated: { models: [{ name: m }] } }]\nroutes: [{ name: r, targets: [{ model: a/m }] }]", "t.yaml", { env: {} });

  /** Two words, then silence until the call is aborted. */
  async function* twoWordsThenWait(signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    yield { type: "text", text: "one " };
    yield { type: "text", text: "two " };
    await untilAborted(signal);
  }

  test("the OpenAI handler finishes the call (and charges its budget) when the client goes away", { timeout: 10_000 }, async (t) => {
    const provider = scriptedProvider("a", (call) => twoWordsThenWait(call.signal));
    const gateway = createGateway(config, { providers: new Map([["a", provider]]) });
    let charged!: () => void;
    const spent = new Promise<void>((resolve) => (charged = resolve));
    const handle = openaiHandler({
      gateway,
      auth: createAuth([]),
      maxBodyBytes: 1 << 20,
      stats: createStats(),
      budgets: { admit: async () => ({ settle: () => charged() }), update: () => undefined, close: async () => undefined },
    });
    const server = http.createServer((req, res) => handle(req, res, "/v1/chat/completions"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const leave = new AbortController();
    const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "r", stream: true, messages: [{ role: "user", content: "hi" }] }),
      signal: leave.signal,
    });
    await res.body[Symbol.asyncIterator]().next();
    leave.abort();
    // A closed socket never emits "drain": the call must end without one.
    await spent;
  });

  test("a consumer that stops reading ends its breaker admission, so a half-open probe cannot stick", { timeout: 10_000 }, async (t) => {
    let healthy = false;
    const provider = scriptedProvider("a", (call) =>
      healthy
        ? twoWordsThenWait(call.signal)
        : (async function* (): AsyncGenerator<ProviderEvent> {
            throw new GatewayError("UPSTREAM_UNAVAILABLE", "upstream said 503", { upstreamStatus: 503 });
          })(),
    );
    const breakers = createBreakers({ $typeName: "detour.v1.BreakerConfig", window: "10s", volumeThreshold: 2, errorThresholdPercent: 50, resetTimeout: "50ms", disabled: false });
    t.after(() => breakers.close());
    const gateway = createGateway(config, { providers: new Map([["a", provider]]), breakers });
    const ref = { $typeName: "detour.v1.TargetRef" as const, provider: "a", model: "m" };
    const signal = new AbortController().signal;
    for (let i = 0; i < 2; i++) await gateway.complete(userRequest("r"), { signal }).catch(() => undefined);
    assert.equal(breakers.state(ref), BreakerState.OPEN);
    const events = breakers.events("a/m")!;
    await once(events, "halfOpen");
    healthy = true;
    const closed = once(events, "close");
    const probe = oneAtATime(gateway.stream(userRequest("r"), { signal }));
    for (let ev = await probe.next(); !ev.done && ev.value.event.case !== "content"; ev = await probe.next());
    await probe.return(undefined);
    await closed;
    assert.equal(breakers.state(ref), BreakerState.CLOSED);
  });
});
