/**
 * Hostile proto JSON (and proto binary) against GatewayService/Complete over
 * the Connect protocol: every answer is a success or a Connect error with a
 * 4xx status (invalid_argument for a malformed request), never internal or
 * unknown, and the server keeps serving.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { create, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CompleteRequestSchema, type Role } from "../../gen/detour/v1/chat_pb.js";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { decodeChat } from "../../src/server/openai/decode.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";
import { nestedArrays, nestedObjects, pathsOf, withValue, type Json } from "./json-paths.js";
import { hostileValue, unknownEnum, validChat } from "./openai-arbitraries.js";

const SEED = 20_240_611;
const PATH = "/detour.v1.GatewayService/Complete";

/** A valid request in proto JSON: a valid Chat Completions body, decoded and re-encoded. */
const validProtoJson = validChat.map((b) => toJson(CompleteRequestSchema, decodeChat(b).request) as Json);

/** A valid proto JSON request with one field replaced by a hostile value, or removed. */
const mutatedProtoJson = fc.tuple(validProtoJson, fc.nat(), fc.boolean(), hostileValue).map(([body, at, remove, value]) => {
  const paths = pathsOf(body);
  return paths.length === 0 ? body : withValue(body, paths[at % paths.length] ?? [], remove ? undefined : value);
});

interface Answer {
  readonly status: number;
  readonly body: { code?: string; message?: string };
}

/** Asserts a Connect error that is the caller's fault; returns its code and message. */
function assertCallerError(a: Answer, code?: string): { code: string; message: string } {
  assert.ok(a.status >= 400 && a.status < 500, `expected a 4xx, got ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
  assert.ok(a.body.code && !["internal", "unknown", "unavailable", "data_loss"].includes(a.body.code), `code ${a.body.code}`);
  assert.ok(a.body.message, "the error says what is wrong");
  if (code !== undefined) assert.equal(a.body.code, code, a.body.message);
  return { code: a.body.code, message: a.body.message };
}

describe("Connect proto JSON with hostile bodies", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp(SIM_CONFIG);
  });
  after(() => t.close());

  async function post(body: string | Uint8Array, contentType = "application/json"): Promise<Answer> {
    const res = await fetch(`${t.url}${PATH}`, { method: "POST", headers: { "content-type": contentType }, body, signal: AbortSignal.timeout(15_000) });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status === 200) return { status: 200, body: {} };
    return { status: res.status, body: JSON.parse(new TextDecoder().decode(bytes)) as Answer["body"] };
  }

  async function stillServing(): Promise<void> {
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    assert.equal((await client.complete(userRequest("sim/fast"))).servedBy?.model, "fast");
  }

  test("property: any JSON body is a success or a caller's error, never internal", { timeout: 30_000 }, async () => {
    const enc = new TextEncoder();
    const bodies = fc.oneof(
      validProtoJson.map((b) => enc.encode(JSON.stringify(b))),
      mutatedProtoJson.map((b) => enc.encode(JSON.stringify(b))),
      fc.jsonValue({ maxDepth: 4 }).map((v) => enc.encode(JSON.stringify(v))),
      fc.uint8Array({ maxLength: 128 }),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const a = await post(body);
        if (a.status !== 200) assertCallerError(a);
      }),
      { seed: SEED, numRuns: 120 },
    );
    await stillServing();
  });

  test("property: any bytes as proto binary are a success or a caller's error, never internal", { timeout: 20_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (body) => {
        const a = await post(body, "application/proto");
        if (a.status !== 200) assertCallerError(a);
      }),
      { seed: SEED, numRuns: 60 },
    );
    await stillServing();
  });

  test("property: an unknown enum value is invalid_argument naming the value", { timeout: 20_000 }, async () => {
    const roles = ["ROLE_SYSTEM", "ROLE_DEVELOPER", "ROLE_USER", "ROLE_ASSISTANT", "ROLE_TOOL"];
    await fc.assert(
      fc.asyncProperty(unknownEnum(roles), async (role) => {
        const body = { model: "sim/fast", messages: [{ role, content: [{ text: "hi" }] }] };
        const { message } = assertCallerError(await post(JSON.stringify(body)), "invalid_argument");
        assert.ok(message.includes("detour.v1.Role") && message.includes(JSON.stringify(role)), message);
      }),
      { seed: SEED, numRuns: 30 },
    );
    for (const [sampling, field] of [[{ reasoningEffort: "REASONING_EFFORT_EXTREME" }, "ReasoningEffort"], [{ reasoningEffort: 99 }, "reasoning_effort"]] as const) {
      const body = { model: "sim/fast", messages: [{ role: "ROLE_USER", content: [{ text: "hi" }] }], sampling };
      assert.match(assertCallerError(await post(JSON.stringify(body)), "invalid_argument").message, new RegExp(field));
    }
  });

  test("JSON nested 100k deep is invalid_argument, not a stack overflow", { timeout: 20_000 }, async () => {
    assertCallerError(await post(nestedArrays(100_000)), "invalid_argument");
    const deep = `{"model":"sim/fast","messages":[{"role":"ROLE_USER","content":[{"text":"hi"}]}],"tools":[{"name":"f","parameters":${nestedObjects(100_000)}}]}`;
    assert.match(assertCallerError(await post(deep), "invalid_argument").message, /maximum recursion depth/);
    await stillServing();
  });

  test("invalid UTF-8 is decoded leniently (U+FFFD, as connect-es does) or refused, never a crash", async () => {
    const head = Buffer.from('{"model":"sim/echo","messages":[{"role":"ROLE_USER","content":[{"text":"a');
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const a = await post(Buffer.concat([head, Buffer.from(bad), Buffer.from('"}]}]}')]));
      if (a.status !== 200) assertCallerError(a, "invalid_argument");
    }
    await stillServing();
  });

  test("connect-es and gRPC clients: out-of-range values are INVALID_ARGUMENT naming the field", { timeout: 20_000 }, async () => {
    for (const transport of [createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }), createGrpcTransport({ baseUrl: t.url })]) {
      const client = createClient(GatewayService, transport);
      const cases: [ReturnType<typeof userRequest>, RegExp][] = [
        [userRequest("sim/fast", "hi", { messages: [{ role: 99 as Role, content: [{ part: { case: "text", value: "x" } }] }] }), /^messages\[0\]\.role: /],
        [userRequest("sim/fast", "hi", { sampling: { temperature: Number.NaN } }), /^sampling\.temperature: /],
        [userRequest("sim/fast", "hi", { sampling: { maxOutputTokens: 0 } }), /^sampling\.max_output_tokens: /],
        [create(CompleteRequestSchema, { model: "sim/fast", messages: Array.from({ length: 10_001 }, () => userRequest("x").messages[0]!) }), /^messages: /],
        [userRequest("m".repeat(100_000)), /^model: /],
      ];
      for (const [req, message] of cases) {
        const err = await client.complete(req).then(
          () => assert.fail("expected an error"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(err.code, Code.InvalidArgument, err.message);
        assert.match(err.rawMessage, message);
      }
    }
    await stillServing();
  });
});
