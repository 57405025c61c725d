import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { createUpstreamHttp } from "../../src/providers/http.js";

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
