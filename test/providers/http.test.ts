import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { UpstreamConfigSchema } from "../../gen/detour/v1/config_pb.js";
import { createUpstreamHttp } from "../../src/providers/http.js";
import { countsAgainstBreaker } from "../../src/breakers/breakers.js";
import { GatewayError } from "../../src/errors.js";

/** A server whose responses `answer` writes; counts the connections it accepted. */
async function upstream(answer: (res: ServerResponse) => void): Promise<{ url: string; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(res));
  });
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, server };
}

/** Reads the first chunk of a body and stops, as an SSE reader does at [DONE]. */
async function firstChunk(body: AsyncIterable<Uint8Array>): Promise<string> {
  for await (const c of body) return Buffer.from(c).toString();
  return "";
}

describe("upstream HTTP: a body left unread", () => {
  test("is read off so the next call reuses the connection", async () => {
    const up = await upstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: [DONE]\n\n");
      setTimeout(() => res.end(": bye\n\n"), 20);
    });
    const http = createUpstreamHttp(undefined);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
        assert.equal(await firstChunk(res.body), "data: [DONE]\n\n");
        await new Promise((r) => setTimeout(r, 60));
      }
      assert.equal(up.connections(), 1, "three calls, one connection");
    } finally {
      await http.close();
      up.server.close();
    }
  });

  test("that never ends is given up after a second and its connection closed, not reused", async () => {
    const held: ServerResponse[] = [];
    const up = await upstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: [DONE]\n\n");
      held.push(res);
    });
    const http = createUpstreamHttp(undefined);
    try {
      const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      await firstChunk(res.body);
      const closed = once(held[0]!, "close");
      const t0 = performance.now();
      await closed;
      const waited = performance.now() - t0;
      assert.ok(waited > 800 && waited < 5_000, `closed after ${waited.toFixed(0)} ms`);
      const again = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      await firstChunk(again.body);
      assert.equal(up.connections(), 2, "the stuck connection was not reused");
    } finally {
      for (const r of held) r.destroy();
      await http.close();
      up.server.close();
    }
  });
});

describe("upstream HTTP: a whole body read as text", () => {
  // "é" is two bytes in UTF-8; the chunked answer splits it between two writes.
  const json = JSON.stringify({ text: "café ".repeat(200) });
  const bytes = Buffer.from(json);
  const cut = bytes.indexOf(Buffer.from("é")) + 1;

  for (const [name, answer] of [
    ["with a declared length", (res: ServerResponse) => res.writeHead(200, { "content-length": bytes.length }).end(bytes)],
    [
      "chunked",
      (res: ServerResponse) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(bytes.subarray(0, cut));
        setTimeout(() => res.end(bytes.subarray(cut)), 10);
      },
    ],
  ] as const) {
    test(`${name} is the whole text, split characters joined`, async () => {
      const up = await upstream(answer);
      const http = createUpstreamHttp(undefined);
      try {
        const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
        assert.equal(await res.text(), json);
        await new Promise((r) => setTimeout(r, 20));
        const again = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
        assert.ok((await again.text(100)).length <= 100, "past the limit, no more than it is kept");
        assert.equal(up.connections(), 1, "the connection is reused after either read");
      } finally {
        await http.close();
        up.server.close();
      }
    });
  }
});

describe("upstream HTTP: a call cancelled or cut", () => {
  test("cancelled while it waits for a free connection, it fails at once and is never sent", async () => {
    let seen = 0;
    const held: ServerResponse[] = [];
    const up = await upstream((res) => {
      seen++;
      res.writeHead(200, { "content-type": "application/json" }).flushHeaders();
      held.push(res);
    });
    const http = createUpstreamHttp(create(UpstreamConfigSchema, { maxConnections: 1 }));
    try {
      const first = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      const ctl = new AbortController();
      const queued = http.post(`${up.url}/v1/chat/completions`, {}, {}, ctl.signal);
      const why = new Error("the attempt ended");
      setTimeout(() => ctl.abort(why), 20);
      const t0 = performance.now();
      await assert.rejects(queued, (e) => e === why);
      assert.ok(performance.now() - t0 < 500, "rejected when cancelled, not when a connection frees");
      held[0]!.end("{}");
      assert.equal(await first.text(), "{}");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen, 1, "the cancelled call never reached the upstream");
    } finally {
      for (const r of held) r.destroy();
      await http.close();
      up.server.close();
    }
  });

  test("cancelled before any answer (a latency threshold passed): the caller hears at once, the upstream's connection is closed, the next call goes out", async () => {
    let calls = 0;
    let closed = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (calls++ === 0) {
        req.socket.on("close", () => closed++);
        return; // hangs: never answers
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
    const http = createUpstreamHttp(undefined);
    try {
      const ctl = new AbortController();
      const hung = http.post(url, {}, {}, ctl.signal);
      const why = new Error("no first token within ttft_timeout 50ms");
      setTimeout(() => ctl.abort(why), 50);
      await assert.rejects(hung, (e) => e === why);
      const next = await http.post(url, {}, {}, new AbortController().signal);
      assert.equal(await next.text(), "{}");
      for (let i = 0; i < 100 && closed === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(closed, 1, "the hung call's connection was closed");
    } finally {
      server.closeAllConnections();
      await http.close();
      server.close();
    }
  });

  test("cancelled mid-body, the reader gets the reason", async () => {
    const up = await upstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n");
    });
    const http = createUpstreamHttp(undefined);
    try {
      for (const read of ["text", "iterate"] as const) {
        const ctl = new AbortController();
        const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, ctl.signal);
        const why = new Error(`stop ${read}`);
        setTimeout(() => ctl.abort(why), 20);
        const reading = read === "text" ? res.text() : (async () => { for await (const _ of res.body) { /* until cancelled */ } })();
        await assert.rejects(reading, (e) => e === why);
      }
    } finally {
      up.server.closeAllConnections();
      await http.close();
      up.server.close();
    }
  });

  test("cut by the upstream mid-stream: what arrived is read, then the socket error", async () => {
    const up = await upstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n", () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const http = createUpstreamHttp(undefined);
    try {
      const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of res.body) got.push(Buffer.from(c).toString());
        })(),
        (e: Error & { code?: string }) => e.code === "UND_ERR_SOCKET",
      );
      assert.deepEqual(got, ["data: 1\n\n"]);
    } finally {
      await http.close();
      up.server.close();
    }
  });

  test("what arrived while the reader was away is read in one piece, not an HTTP chunk at a time", async () => {
    const up = await upstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (let i = 0; i < 200; i++) res.write(`data: ${i}\n\n`);
      res.end();
    });
    const http = createUpstreamHttp(undefined);
    try {
      const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      await new Promise((r) => setTimeout(r, 50));
      const reads: string[] = [];
      for await (const piece of res.body) reads.push(Buffer.from(piece).toString());
      assert.equal(reads.join(""), Array.from({ length: 200 }, (_, i) => `data: ${i}\n\n`).join(""));
      assert.equal(reads.length, 1, `200 HTTP chunks in ${reads.length} reads`);
    } finally {
      await http.close();
      up.server.close();
    }
  });

  test("a reader that falls behind pauses the upstream instead of buffering its whole stream", async () => {
    const chunk = "x".repeat(16 * 1024);
    let res0: ServerResponse | undefined;
    const up = await upstream((res) => {
      res0 = res;
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (let i = 0; i < 512; i++) res.write(chunk); // 8 MB
      res.end();
    });
    const http = createUpstreamHttp(undefined);
    try {
      const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      const it = res.body[Symbol.asyncIterator]();
      const first = await it.next();
      await new Promise((r) => setTimeout(r, 100));
      assert.ok((res0?.writableLength ?? 0) > 4 * 1024 * 1024, `most of the 8 MB is still waiting on the upstream's side (${res0?.writableLength} bytes)`);
      let total = first.value?.length ?? 0;
      for (let r = await it.next(); !r.done; r = await it.next()) total += r.value.length;
      assert.equal(total, 512 * chunk.length, "the whole stream is read in the end");
    } finally {
      await http.close();
      up.server.close();
    }
  });
});

describe("upstream HTTP: informational responses", () => {
  test("a 103 Early Hints before the answer is skipped: the call gets the final status and body", async () => {
    const up = await upstream((res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" }, () => {
        setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'), 30);
      });
    });
    const http = createUpstreamHttp(undefined);
    try {
      const res = await http.post(`${up.url}/v1/chat/completions`, {}, {}, new AbortController().signal);
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-type"], "application/json");
      assert.equal(await res.text(), '{"ok":true}');
    } finally {
      await http.close();
      up.server.close();
    }
  });
});

describe("upstream HTTP: a call that cannot start", () => {
  test("after the client closed, or to a URL that is not http, fails with a typed error and leaves no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const http = createUpstreamHttp(undefined);
      await assert.rejects(http.post("ftp://127.0.0.1:1/v1/chat/completions", {}, {}, new AbortController().signal), (e: Error & { reason?: string }) => e.reason === "CONNECTION_FAILED");
      await http.close();
      await assert.rejects(http.post("http://127.0.0.1:1/v1/chat/completions", {}, {}, new AbortController().signal), (e: Error & { reason?: string }) => e.reason === "CONNECTION_FAILED");
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("a request undici refuses to send", () => {
  test("is the caller's invalid request, not a connection failure: it never counts against a breaker", async () => {
    const up = await upstream((res) => res.end("{}"));
    const http = createUpstreamHttp(create(UpstreamConfigSchema, {}));
    try {
      const err = await http.post(`${up.url}/x`, { "x-client-request-id": "bad\nid" }, {}, new AbortController().signal).catch((e: unknown) => e);
      assert.ok(err instanceof GatewayError, String(err));
      assert.equal(err.reason, "INVALID_REQUEST");
      assert.equal(countsAgainstBreaker(err), false);
      assert.equal(up.connections(), 0, "nothing reached the upstream");
    } finally {
      await http.close();
      up.server.close();
    }
  });
});
