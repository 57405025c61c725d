/**
 * Tokens that reach the gateway together leave it together: a burst of
 * output is written as a few HTTP chunks, not one write and one chunk header
 * per token, and the first token is not held back for the rest.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const WORDS = 2_000;
const CONFIG = SIM_CONFIG.replace("        - { name: fast,", `        - { name: burst, output: { kind: lorem, words: ${WORDS} } }\n        - { name: fast,`);

/** The raw HTTP/1.1 response to one streamed request, as its chunks of the chunked body. */
async function rawChunks(port: number, model: string): Promise<string[]> {
  const body = JSON.stringify({ model, stream: true, messages: [{ role: "user", content: "go" }] });
  const socket = net.connect(port, "127.0.0.1");
  socket.setEncoding("latin1");
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  let raw = "";
  for await (const s of socket) raw += s as string;
  const start = raw.indexOf("\r\n\r\n") + 4;
  assert.match(raw.slice(0, start), /transfer-encoding: chunked/i);
  const chunks: string[] = [];
  for (let i = start; ; ) {
    const eol = raw.indexOf("\r\n", i);
    const size = parseInt(raw.slice(i, eol), 16);
    if (!(size > 0)) break;
    chunks.push(raw.slice(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return chunks;
}

describe("a burst of output", () => {
  let t: TestApp;
  before(async () => {
    assert.notEqual(CONFIG, SIM_CONFIG, "the burst model was added");
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  test("leaves in a few HTTP chunks, the first token in the first", async () => {
    const chunks = await rawChunks(t.port, "sim/burst");
    const all = chunks.join("");
    assert.ok(all.endsWith("data: [DONE]\n\n"), "the stream is whole");
    const tokens = all.split("\n\n").filter((e) => e.startsWith('data: {"id"') && e.includes('"content":"') && !e.includes('"content":""')).length;
    assert.ok(tokens >= WORDS, `one SSE chunk per token (${tokens})`);
    assert.ok(chunks.length <= 16, `${tokens} tokens in ${chunks.length} HTTP chunks`);
    assert.match(chunks[0]!, /"role":"assistant"[\s\S]*"content":"lorem/, "the first write holds the role and the first token");
  });
});
