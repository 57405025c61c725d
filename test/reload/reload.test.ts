import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { startApp } from "../helpers/app.js";
import { spawnGateway } from "../helpers/process.js";

const V1 = `
breaker: { disabled: true }
providers: [{ name: sim, simulated: { models: [{ name: one, tokens_per_second: 200, output: { kind: text, text: "version one answers" } }, { name: two, output: { kind: text, text: "version two answers" } }] } }]
routes: [{ name: r, targets: [{ model: sim/one }] }]
`;
const V2 = V1.replace("routes: [{ name: r, targets: [{ model: sim/one }] }]", "routes: [{ name: r, targets: [{ model: sim/two }] }, { name: added, targets: [{ model: sim/two }] }]");

async function ask(url: string, model = "r"): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });
  const body = (await res.json()) as { choices?: { message: { content: string } }[] };
  return { status: res.status, text: body.choices?.[0]?.message.content ?? "" };
}

describe("hot config reload", () => {
  test("a reload under load loses no request: calls in flight finish on the old config, new ones use the new", async () => {
    const t = await startApp(V1.replace("tokens_per_second: 200", "tokens_per_second: 40"));
    try {
      // Streams that have delivered their first chunk are certainly in flight.
      const streams = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "r", stream: true, messages: [{ role: "user", content: "x" }] }) });
          const reader = res.body!.getReader();
          const first = await reader.read();
          return { reader, seen: new TextDecoder().decode(first.value) };
        }),
      );
      const during = Array.from({ length: 10 }, () => ask(t.url));
      t.app.reload(parseConfig(V2, "v2", { env: {} }));
      const after = await Promise.all(Array.from({ length: 10 }, () => ask(t.url)));
      const finished = await Promise.all(
        streams.map(async ({ reader, seen }) => {
          let raw = seen;
          for (let r = await reader.read(); !r.done; r = await reader.read()) raw += new TextDecoder().decode(r.value);
          return raw;
        }),
      );
      for (const raw of finished) {
        const text = [...raw.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("");
        assert.equal(text, "version one answers", "an in-flight stream finished on the old config");
        assert.ok(raw.trimEnd().endsWith("data: [DONE]"));
      }
      const duringResults = await Promise.all(during);
      assert.ok(duringResults.every((r) => r.status === 200 && (r.text === "version one answers" || r.text === "version two answers")), "calls racing the reload all succeeded");
      assert.ok(after.every((r) => r.status === 200 && r.text === "version two answers"));
      assert.equal((await ask(t.url, "added")).status, 200, "new routes exist after the reload");
    } finally {
      await t.close();
    }
  });

  test("SIGHUP with a bad file is refused with a logged error and the old config keeps serving; a good file then applies", async () => {
    const { child, url, config: file, exit, line: next } = await spawnGateway({ yaml: V1 });
    assert.equal((await ask(url)).text, "version one answers");

    await writeFile(file, V1.replace("targets: [{ model: sim/one }]", "targets: [{ model: sim/nine }]"));
    child.kill("SIGHUP");
    const refused = await next(/config reload refused/);
    assert.match(refused, /simulated provider \\"sim\\" has no model \\"nine\\"/);
    assert.equal((await ask(url)).text, "version one answers", "the old config still serves");

    await writeFile(file, V2);
    child.kill("SIGHUP");
    await next(/config reloaded/);
    assert.equal((await ask(url)).text, "version two answers");
    child.kill("SIGTERM");
    assert.equal(await exit, 0);
  });
});
