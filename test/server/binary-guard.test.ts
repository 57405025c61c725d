/**
 * Bytes that are not a protobuf CompleteRequest are invalid_argument naming
 * the message type, in every protocol on the port (Connect unary and
 * streaming, gRPC, gRPC-Web), compressed or not; valid binary requests,
 * compressed ones included, are served as before; an oversized body is still
 * resource_exhausted.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GatewayService } from "../../gen/detour/v1/gateway_pb.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";

/** The small simulated config, with a request limit a test can pass. */
const CONFIG = SIM_CONFIG.replace("server: { drain_timeout: 2s }", "server: { drain_timeout: 2s, max_request_bytes: 65536 }");

/** Field 1 (model), length-delimited, says 5 bytes and has 1. */
const GARBAGE = new Uint8Array([0x0a, 0x05, 0x61]);

function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}

/** The envelopes of a response body. */
function envelopes(body: Uint8Array): { flags: number; data: Uint8Array }[] {
  const out = [];
  for (let at = 0; at + 5 <= body.byteLength; ) {
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    out.push({ flags: body[at] ?? 0, data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

function assertNamesTheType(message: string, type = "CompleteRequest"): void {
  assert.match(message, new RegExp(`^request: the body is not a detour\\.v1\\.${type} in protobuf binary \\(.+\\); send the serialized message`));
}

describe("binary request bodies that are not the method's message", () => {
  let t: TestApp;
  before(async () => {
    assert.notEqual(CONFIG, SIM_CONFIG, "the limit was set");
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  test("Connect unary: 400 invalid_argument naming the type, plain or gzipped", async () => {
    for (const [body, headers] of [
      [GARBAGE, {}],
      [gzipSync(GARBAGE), { "content-encoding": "gzip" }],
    ] as const) {
      const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, { method: "POST", headers: { "content-type": "application/proto", ...headers }, body });
      const err = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 400);
      assert.equal(err.code, "invalid_argument");
      assertNamesTheType(err.message);
    }
  });

  test("Connect streaming: the end-of-stream error is invalid_argument", async () => {
    const res = await fetch(`${t.url}/detour.v1.GatewayService/StreamComplete`, { method: "POST", headers: { "content-type": "application/connect+proto" }, body: envelope(GARBAGE) });
    assert.equal(res.status, 200);
    const end = envelopes(new Uint8Array(await res.arrayBuffer())).find((e) => e.flags & 2);
    assert.ok(end, "an end-of-stream message");
    const { error } = JSON.parse(new TextDecoder().decode(end.data)) as { error: { code: string; message: string } };
    assert.equal(error.code, "invalid_argument");
    assertNamesTheType(error.message, "StreamCompleteRequest");
  });

  test("gRPC: grpc-status 3 (INVALID_ARGUMENT), plain or compressed", async () => {
    const session = http2.connect(t.url);
    try {
      for (const [body, headers] of [
        [envelope(GARBAGE), {}],
        [envelope(gzipSync(GARBAGE), 1), { "grpc-encoding": "gzip" }],
      ] as const) {
        const stream = session.request({ ":method": "POST", ":path": "/detour.v1.GatewayService/Complete", "content-type": "application/grpc", te: "trailers", ...headers });
        stream.end(body);
        const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          let head: http2.IncomingHttpHeaders = {};
          stream.on("response", (h) => (head = h));
          stream.on("trailers", resolve);
          // A trailers-only response carries the status in its headers.
          stream.on("end", () => resolve(head));
          stream.on("error", reject);
          stream.resume();
        });
        assert.equal(trailers["grpc-status"], "3");
        assertNamesTheType(decodeURIComponent(String(trailers["grpc-message"])));
      }
    } finally {
      session.close();
    }
  });

  test("gRPC-Web: the trailer frame says grpc-status 3", async () => {
    const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: envelope(GARBAGE) });
    const trailer = envelopes(new Uint8Array(await res.arrayBuffer())).find((e) => e.flags & 0x80);
    const text = trailer ? new TextDecoder().decode(trailer.data) : (res.headers.get("grpc-status") ?? "");
    assert.match(text, /grpc-status: ?3/);
  });

  test("valid binary requests, compressed too, are served in every protocol", async () => {
    const big = userRequest("sim/fast", "x".repeat(4096));
    for (const transport of [
      createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: true, sendCompression: compressionGzip }),
      createGrpcTransport({ baseUrl: t.url, sendCompression: compressionGzip }),
      createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: true, sendCompression: compressionGzip }),
    ]) {
      const client = createClient(GatewayService, transport);
      assert.equal((await client.complete(big)).servedBy?.model, "fast");
      let text = "";
      for await (const ev of client.streamComplete({ request: userRequest("sim/fast") })) if (ev.event.case === "content") text += ev.event.value.text;
      assert.equal(text, "hello from fast");
    }
  });

  test("a body over max_request_bytes is still resource_exhausted", async () => {
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: true }));
    const err = await client.complete(userRequest("sim/fast", "x".repeat(70_000))).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.ResourceExhausted, err.message);
    // Chunked, with no length declared: read up to the limit, then connect-es's answer.
    const chunk = new Uint8Array(16_384);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 5) c.enqueue(chunk);
        else c.close();
      },
    });
    const res = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, { method: "POST", headers: { "content-type": "application/proto" }, body, duplex: "half" } as RequestInit);
    assert.equal(((await res.json()) as { code: string }).code, "resource_exhausted");
  });
});
