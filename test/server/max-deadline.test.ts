/**
 * A caller's deadline longer than setTimeout can hold (2^31 ms, about 24.8
 * days) used to cancel the call at once. It is cut to server.max_deadline:
 * the call runs, and ends at max_deadline at the latest.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { grpcClient, unary } from "../helpers/grpc.js";
import { userRequest } from "../helpers/requests.js";

const THIRTY_DAYS_MS = 30 * 24 * 3_600_000;
const CONFIG = SIM_CONFIG.replace("server: { drain_timeout: 2s }", "server: { drain_timeout: 2s, max_deadline: 3s }");

describe("a deadline of 30 days", () => {
  let t: TestApp;
  before(async () => {
    assert.notEqual(CONFIG, SIM_CONFIG, "max_deadline was set");
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  test("over gRPC, the call is answered", async () => {
    const client = grpcClient(`127.0.0.1:${t.port}`);
    // sim/slow takes about a second: long enough to see a call cancelled at once.
    const res = await unary(client, GatewayService.method.complete, userRequest("sim/slow"), { deadline: Date.now() + THIRTY_DAYS_MS });
    assert.equal(String(res.message?.content[0]?.part.value).split(" ").length, 20);
    client.close();
  });

  test("over gRPC, a call that hangs ends at max_deadline with DEADLINE_EXCEEDED", { timeout: 10_000 }, async () => {
    const client = grpcClient(`127.0.0.1:${t.port}`);
    const err = await unary(client, GatewayService.method.complete, userRequest("sim/hanging"), { deadline: Date.now() + THIRTY_DAYS_MS }).then(
      () => assert.fail("a hanging model cannot answer"),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, GrpcStatus.DEADLINE_EXCEEDED, `${GrpcStatus[err.code]}: ${err.details}`);
    client.close();
  });

  test("over Connect (connect-timeout-ms), the call is answered", async () => {
    const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(THIRTY_DAYS_MS) },
      body: JSON.stringify({ model: "sim/slow", messages: [{ role: "ROLE_USER", content: [{ text: "hi" }] }] }),
    });
    const body = (await res.json()) as { message?: { content?: { text?: string }[] } };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(String(body.message?.content?.[0]?.text).split(" ").length, 20);
  });
});
