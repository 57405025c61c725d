/**
 * A client that stops reading a long stream for a while: the gateway waits
 * for the response to drain instead of buffering without bound or dropping
 * output, and the client then reads every token, in order, to [DONE].
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const WORDS = 60_000;

/** The small simulated config with one more model: a long lorem answer. */
const CONFIG = SIM_CONFIG.replace("        - { name: fast,", `        - { name: long, output: { kind: lorem, words: ${WORDS} } }\n        - { name: fast,`);

describe("a streaming client that pauses", () => {
  let t: TestApp;
  before(async () => {
    assert.notEqual(CONFIG, SIM_CONFIG, "the long model was added");
    t = await startApp(CONFIG);
  });
  after(() => t.close());

  test("gets every token after its pause, in order, then [DONE]", { timeout: 60_000 }, async () => {
    const body = JSON.stringify({ model: "sim/long", stream: true, messages: [{ role: "user", content: "go" }] });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, resolve);
      req.on("error", reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    // Read nothing for a while: several MB of chunks pile up against the socket.
    res.pause();
    await new Promise((r) => setTimeout(r, 1_000));
    res.setEncoding("utf8");
    let raw = "";
    res.on("data", (s: string) => (raw += s));
    res.resume();
    await new Promise((r) => res.on("end", r));
    assert.ok(raw.length > 4_000_000, `a long stream (${raw.length} bytes)`);
    assert.ok(raw.endsWith("data: [DONE]\n\n"), "ends with [DONE]");
    let text = "";
    for (const line of raw.split("\n")) {
      if (!line.startsWith("data: {")) continue;
      const chunk = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] };
      text += chunk.choices[0]?.delta.content ?? "";
    }
    assert.equal(text.split(" ").length, WORDS, "every word arrived");
    assert.ok(text.startsWith("lorem ipsum dolor") && text.endsWith("."), "in order");
  });
});
