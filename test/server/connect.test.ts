import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/detour/v1/admin_pb.js";
import { GatewayService, StreamCompleteRequestSchema } from "../../gen/detour/v1/gateway_pb.js";
import { ErrorDetailSchema } from "../../gen/detour/v1/result_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";

describe("one port: Connect, gRPC-Web and gRPC over HTTP/1.1 and h2c", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(SIM_CONFIG);
  });
  after(() => t.close());

  const transports: [string, () => Transport][] = [
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" })],
    ["Connect over h2c", () => createConnectTransport({ baseUrl: t.url, httpVersion: "2" })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1" })],
    ["gRPC over h2c (connect-node)", () => createGrpcTransport({ baseUrl: t.url })],
  ];

  for (const [name, transport] of transports) {
    test(`${name}: unary, stream and a typed error`, async () => {
      const client = createClient(GatewayService, transport());
      const res = await client.complete(userRequest("default"));
      assert.equal(res.servedBy?.model, "fast");
      assert.equal(res.attempts.length, 2);

      const kinds: string[] = [];
      for await (const ev of client.streamComplete(create(StreamCompleteRequestSchema, { request: userRequest("default") }))) {
        kinds.push(ev.event.case ?? "");
      }
      assert.equal(kinds[0], "started");
      assert.equal(kinds.at(-1), "done");

      const err = await client.complete(userRequest("nope")).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.findDetails(ErrorInfoSchema)[0]?.reason, "UNKNOWN_MODEL");
      assert.equal(err.findDetails(ErrorDetailSchema)[0]?.field, "model");
    });
  }

  test("a stream without its request names the missing field", async () => {
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const err = await (async () => {
      for await (const _ of client.streamComplete(create(StreamCompleteRequestSchema, {}))) void _;
    })().then(
      () => assert.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, /^request: is required/);
  });

  test("plain curl-style JSON reaches Complete and ListModels over GET", async () => {
    const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sim/echo", messages: [{ role: "ROLE_USER", content: [{ text: "ping" }] }] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { message: { content: { text: string }[] }; attempts: unknown[] };
    assert.equal(body.message.content[0]?.text, "You said: ping");
    assert.equal(body.attempts.length, 1);

    const list = await fetch(`${t.url}/detour.v1.GatewayService/ListModels?encoding=json&message=%7B%7D&connect=v1`);
    assert.equal(list.status, 200);
    const models = (await list.json()) as { routes: { name: string }[] };
    assert.ok(models.routes.some((r) => r.name === "default"));
  });

  test("an invalid Connect JSON body is a 400 naming the problem, not a crash", async () => {
    const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model": "default", "messages": [{"role": "ROLE_PIRATE"}]}',
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /ROLE_PIRATE/);
    const typo = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model": "default", "temprature": 0.2, "messages": [{"role": "ROLE_USER", "content": [{"text": "x"}]}]}',
    });
    assert.equal(typo.status, 400);
    assert.match(((await typo.json()) as { message: string }).message, /temprature/);
  });

  test("admin ListRoutes shows the routes and their policy", async () => {
    const admin = createClient(AdminService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const routes = await admin.listRoutes({});
    const def = routes.routes.find((r) => r.summary?.name === "default");
    assert.deepEqual(
      def?.summary?.targets.map((x) => `${x.provider}/${x.model}`),
      ["sim/failing", "sim/fast"],
    );
  });

  test("/healthz and /readyz answer; unknown paths are 404", async () => {
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    const ready = await fetch(`${t.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    assert.equal((await fetch(`${t.url}/no/such/path`)).status, 404);
  });

  test("a body over the size limit is refused", async () => {
    const small = await startApp(SIM_CONFIG.replace("server: {", "server: { max_request_bytes: 1024,"));
    try {
      const client = createClient(GatewayService, createConnectTransport({ baseUrl: small.url, httpVersion: "1.1" }));
      const err = await client.complete(userRequest("default", "x".repeat(4096))).then(
        () => assert.fail("expected an error"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.ResourceExhausted);
    } finally {
      await small.close();
    }
  });
});
