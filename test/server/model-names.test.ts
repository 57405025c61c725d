import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { headerValue } from "../../src/server/header-value.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

const chat = (url: string, model: string, extra: Record<string, unknown> = {}, key = "k-thrifty") =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }], ...extra }),
  });

describe("model names at the edge and in response headers", () => {
  let fake: VendorFake;
  let t: TestApp;
  before(async () => {
    fake = await startOpenAIFake();
    // A provider's model named outside Latin-1, priced so one answer spends the key's day.
    t = await startApp(`
breaker: { disabled: true }
providers:
  - name: fake
    openai: { base_url: "${fake.url}/v1" }
    models: [{ name: "模型", capabilities: { streaming: true }, pricing: { input_per_mtok: 100000, output_per_mtok: 100000 } }]
routes: [{ name: r, targets: [{ model: "fake/模型" }] }]
keys: [{ name: thrifty, sha256: ${hash("k-thrifty")}, usd_per_day: 1.5 }, { name: free, sha256: ${hash("k-free")} }]
`);
  });
  after(async () => {
    await t.close();
    await fake.close();
  });

  test("a model name with CR/LF or non-ASCII is refused with 400 naming model, and never reaches the upstream", async () => {
    const before = fake.requests.length;
    for (const model of ["fake/gpt-4o\r\nx-injected: 1", "fake/モデル", "fake/gpt 4o"]) {
      const res = await chat(t.url, model);
      assert.equal(res.status, 400, JSON.stringify(model));
      const body = (await res.json()) as { error: { message: string; param: string | null } };
      assert.match(body.error.message, /^model: .* is not a model name: use letters, digits/);
    }
    const grpc = await fetch(`${t.url}/detour.v1.GatewayService/Complete`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer k-thrifty" },
      body: JSON.stringify({ model: "fake/gpt\n4o", messages: [{ role: "ROLE_USER", content: [{ text: "x" }] }] }),
    });
    assert.equal(grpc.status, 400);
    const err = (await grpc.json()) as { code: string; message: string };
    assert.equal(err.code, "invalid_argument");
    assert.match(err.message, /model: .* is not a model name/);
    assert.equal(fake.requests.length, before, "nothing was executed upstream");
  });

  test("an answer whose served model cannot go in a header as it is still arrives, header encoded, and its spend counts", async () => {
    const res = await chat(t.url, "r");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-detour-model"), encodeURIComponent("模型"));
    assert.equal(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content, "Hello from the fake.");
    const stream = await chat(t.url, "r", { stream: true });
    assert.equal(stream.status, 429, "the first answer's cost was recorded against the key's day");
    assert.match(((await stream.json()) as { error: { message: string } }).error.message, /has spent its 1.5 USD/);
    const free = await chat(t.url, "r", { stream: true }, "k-free");
    assert.equal(free.status, 200, await free.clone().text());
    assert.equal(free.headers.get("x-detour-model"), encodeURIComponent("模型"));
    assert.match(await free.text(), /data: \[DONE\]/);
  });
});

test("headerValue: plain values pass as they are; CR/LF, non-Latin-1, % and lone surrogates are percent-encoded and can always be written", () => {
  assert.equal(headerValue("gpt-4o-mini"), "gpt-4o-mini");
  assert.equal(headerValue("a\r\nb"), "a%0D%0Ab");
  assert.equal(headerValue("50%"), "50%25");
  assert.equal(decodeURIComponent(headerValue("模型 é")), "模型 é");
  assert.equal(headerValue("x\uD800"), "x%EF%BF%BD");
  for (const v of ["\u0000", "\u2028", "😀", "\uDFFF\uD800", "\t"]) assert.match(headerValue(v), /^[\x20-\x7E]*$/);
});
