/**
 * A body whose lists are over their limits (10,000 messages, 512 tools, 16
 * stop sequences) is refused naming the field and the limit, before the
 * body is parsed: JSON.parse never sees it, and a protobuf body is refused
 * by its tags alone. Decoding 200,000 messages used to block the loop for
 * most of a second only to reach the same answer.
 */
import assert from "node:assert/strict";
import { PRESCAN_MIN_BYTES } from "../../src/server/body-shape.js";
import { after, before, describe, mock, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { CompleteRequestSchema, MessageSchema, Role } from "../../gen/detour/v1/chat_pb.js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { grpcClient, unary } from "../helpers/grpc.js";

const COUNT = 20_000;

/** Calls of JSON.parse on text of at least `min` characters while `run` runs. */
async function bigParses(min: number, run: () => Promise<void>): Promise<number> {
  const parse = mock.method(JSON, "parse");
  try {
    await run();
    return parse.mock.calls.filter((c) => typeof c.arguments[0] === "string" && c.arguments[0].length >= min).length;
  } finally {
    parse.mock.restore();
  }
}

describe("lists over their limits are refused before the body is parsed", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(SIM_CONFIG);
  });
  after(() => t.close());

  const post = (path: string, body: unknown) =>
    fetch(`${t.url}${path}`, { method: "POST", headers: { "content-type": "application/json", "connect-protocol-version": "1" }, body: JSON.stringify(body) });

  test("OpenAI API: 20,000 messages are a 400 naming messages and 10000", async () => {
    const messages = Array.from({ length: COUNT }, (_, i) => ({ role: "user", content: `message ${i}` }));
    let res!: { status: number; body: { error: { message: string; param: string | null } } };
    const parses = await bigParses(100_000, async () => {
      const r = await post("/v1/chat/completions", { model: "sim/fast", messages });
      res = { status: r.status, body: (await r.json()) as typeof res.body };
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.param, "messages");
    assert.match(res.body.error.message, /^messages: has more than 10000 items/);
    assert.equal(parses, 0, "the body was never parsed");
  });

  test("OpenAI API: 17 stop sequences are a 400 naming stop and 16", async () => {
    // Past PRESCAN_MIN_BYTES, so the scan answers, not the engine after a decode.
    const r = await post("/v1/chat/completions", { model: "sim/fast", messages: [{ role: "user", content: "x".repeat(PRESCAN_MIN_BYTES) }], stop: Array.from({ length: 17 }, (_, i) => `s${i}`) });
    const body = (await r.json()) as { error: { message: string; param: string } };
    assert.equal(r.status, 400);
    assert.equal(body.error.param, "stop");
    assert.match(body.error.message, /^stop: has more than 16 items/);
  });

  test("Connect JSON: 20,000 messages are invalid_argument naming messages, unparsed", async () => {
    const messages = Array.from({ length: COUNT }, (_, i) => ({ role: "ROLE_USER", content: [{ text: `message ${i}` }] }));
    let res!: { status: number; body: { code: string; message: string } };
    const parses = await bigParses(100_000, async () => {
      const r = await post("/detour.v1.GatewayService/Complete", { model: "sim/fast", messages });
      res = { status: r.status, body: (await r.json()) as typeof res.body };
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, "invalid_argument");
    assert.match(res.body.message, /^messages: has more than 10000 items/);
    assert.equal(parses, 0, "the body was never parsed");
  });

  test("Connect JSON streaming call: the field is named under request", async () => {
    const messages = Array.from({ length: COUNT }, () => ({ role: "ROLE_USER", content: [{ text: "x" }] }));
    const body = JSON.stringify({ request: { model: "sim/fast", messages } });
    const env = Buffer.alloc(5 + Buffer.byteLength(body));
    env.writeUInt32BE(Buffer.byteLength(body), 1);
    env.write(body, 5);
    const r = await fetch(`${t.url}/detour.v1.GatewayService/StreamComplete`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: env });
    const text = Buffer.from(await r.arrayBuffer()).subarray(5).toString();
    assert.match(text, /"code":"invalid_argument"/);
    assert.match(text, /request\.messages: has more than 10000 items/);
  });

  test("gRPC binary: 20,000 messages are INVALID_ARGUMENT from the tags alone", async () => {
    const one = create(MessageSchema, { role: Role.USER, content: [{ part: { case: "text", value: "x" } }] });
    const req = create(CompleteRequestSchema, { model: "sim/fast", messages: Array.from({ length: COUNT }, () => one) });
    assert.ok(toBinary(CompleteRequestSchema, req).byteLength > 100_000);
    const client = grpcClient(`127.0.0.1:${t.port}`);
    const err = await unary(client, GatewayService.method.complete, req).then(
      () => assert.fail("the request is over the limit"),
      (e: ServiceError) => e,
    );
    client.close();
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    // The decoder's own rule says "value must contain no more than …": this wording is the scan's.
    assert.match(decodeURIComponent(err.details), /^messages: has more than 10000 items/);
  });
});
