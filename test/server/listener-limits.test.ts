/**
 * Slow and idle clients cannot hold connections: the first bytes and the
 * headers have a deadline, so does a request body, idle HTTP/1.1 and HTTP/2
 * connections close, and connections beyond the cap are closed on arrival.
 * A long answer stream is never cut by any of these.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GatewayService, StreamCompleteRequestSchema } from "../../gen/detour/v1/gateway_pb.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { userRequest } from "../helpers/requests.js";

const LIMITS = "server: { drain_timeout: 2s, header_timeout: 200ms, request_timeout: 300ms, idle_timeout: 200ms, max_connections: 3 }";
const CONFIG = SIM_CONFIG.replace("server: { drain_timeout: 2s }", LIMITS);

/** A raw TCP connection to the gateway, with everything it received. */
async function raw(t: TestApp, send?: string): Promise<{ socket: net.Socket; received: () => string; closed: Promise<unknown> }> {
  const socket = net.connect(t.port, "127.0.0.1");
  let got = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (got += d));
  socket.on("error", () => {});
  const closed = once(socket, "close");
  await once(socket, "connect");
  if (send !== undefined) socket.write(send);
  return { socket, received: () => got, closed };
}

describe("connection limits", () => {
  let t: TestApp;
  before(async () => {
    assert.notEqual(CONFIG, SIM_CONFIG, "the limits were set");
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  // Each test's own timeout is what fails on a gateway that keeps the socket.
  test("a connection that sends nothing is closed after header_timeout", { timeout: 5_000 }, async () => {
    const c = await raw(t);
    await c.closed;
    assert.equal(c.received(), "");
  });

  test("half a request line is answered 408 and closed after header_timeout", { timeout: 5_000 }, async () => {
    const c = await raw(t, "GET /healthz HT");
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
  });

  test("a body that trickles is answered 408 and closed after request_timeout", { timeout: 5_000 }, async () => {
    const c = await raw(t, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mo");
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
  });

  test("an idle HTTP/1.1 keep-alive connection is closed after idle_timeout", { timeout: 5_000 }, async () => {
    const c = await raw(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 200 /, "the request was answered first");
  });

  test("an HTTP/2 session with no stream gets GOAWAY after idle_timeout", { timeout: 5_000 }, async () => {
    const session = http2.connect(t.url);
    session.on("error", () => {});
    const goaway = once(session, "goaway");
    await once(session, "connect");
    await goaway;
    await once(session, "close");
  });

  test("an answer streaming longer than every timeout is not cut", { timeout: 10_000 }, async () => {
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: t.url, httpVersion: "2" }));
    // sim/slow streams 20 words at 20 per second: about 1 s, five idle timeouts.
    let words = "";
    let done = 0;
    for await (const ev of client.streamComplete(create(StreamCompleteRequestSchema, { request: userRequest("sim/slow") }))) {
      if (ev.event.case === "content") words += ev.event.value.text;
      if (ev.event.case === "done") done++;
    }
    assert.equal(done, 1);
    assert.equal(words.split(" ").length, 20);
  });
});

test("connections beyond max_connections are closed on arrival", { timeout: 5_000 }, async () => {
  // An app of its own, so no other test's connection is counted.
  const t = await startApp(CONFIG);
  // Three answered requests prove three connections were accepted.
  const held = [];
  for (let i = 0; i < 3; i++) {
    const c = await raw(t);
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await once(c.socket, "data");
    held.push(c);
  }
  const extra = await raw(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  await extra.closed;
  assert.equal(extra.received(), "", "the fourth was closed unanswered");
  for (const c of held) c.socket.destroy();
  await Promise.all(held.map((c) => c.closed));
  await t.close();
});
