import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkCommand } from "../../src/check/command.js";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startOpenAIFake } from "../fakes/openai-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";

describe("detour check", () => {
  let openai: VendorFake;
  let anthropic: VendorFake;
  let dir: string;
  before(async () => {
    openai = await startOpenAIFake();
    anthropic = await startAnthropicFake();
    dir = await mkdtemp(join(tmpdir(), "detour-check-"));
    await writeFile(
      join(dir, "detour.yaml"),
      `auto_providers: false
providers:
  - name: oai
    openai: { base_url: "${openai.url}/v1" }
    models: [{ name: good, capabilities: { tools: true, json_schema: true, streaming: true } }, { name: sloppy, capabilities: { tools: true, json_schema: true, streaming: true } }]
  - name: claude
    anthropic: { base_url: "${anthropic.url}" }
routes:
  - name: prod
    targets: [{ model: oai/good }, { model: oai/sloppy }, { model: claude/claude-sonnet-4 }]
`,
    );
    await writeFile(
      join(dir, "request.json"),
      JSON.stringify({
        messages: [{ role: "ROLE_USER", content: [{ text: "weather in Paris as JSON" }] }],
        tools: [{ name: "get_weather", parameters: { type: "object" } }],
        responseFormat: { type: "RESPONSE_FORMAT_TYPE_JSON_SCHEMA", jsonSchema: { name: "w", schema: { type: "object" } } },
      }),
    );
  });
  after(async () => {
    await openai.close();
    await anthropic.close();
  });

  test("probes each target with the production request and says which honour it", async () => {
    openai.enqueue({ kind: "text", text: '{"temp": 21}' }, { kind: "text", text: "It is sunny!" });
    let out = "";
    const code = await checkCommand(["--route", "prod", "--config", join(dir, "detour.yaml"), "--request", join(dir, "request.json")], (s) => (out += s));
    assert.equal(code, 1, "not every target honours it");
    const lines = out.trim().split("\n");
    assert.equal(lines[0], "route prod: 1 of 3 targets honour the request");
    assert.match(lines[2] ?? "", /^oai\/good\s+✓ honoured\s+\d+ms\s+\d+ms\s+finish stop, price unknown \(add pricing: under providers\[\]\.models\[\]\), no tool call, valid JSON$/, "a model without a price is said to be one");
    assert.match(lines[3] ?? "", /^oai\/sloppy\s+✗ answered wrongly\s+.*output is not JSON$/);
    assert.match(lines[4] ?? "", /^claude\/claude-sonnet-4\s+✗ set aside\s+-\s+-\s+claude\/claude-sonnet-4 does not support JSON schema output$/);
    assert.equal(anthropic.requests.length, 0, "a set-aside target is not called");
    assert.ok(openai.requests.every((r) => Array.isArray(r.body["tools"]) && r.body["response_format"] !== undefined), "the probe carried the production parameters");
  });

  test("a route that does not exist is a usage error naming the routes", async () => {
    let out = "";
    assert.equal(await checkCommand(["--route", "nope", "--config", join(dir, "detour.yaml")], (s) => (out += s)), 2);
    assert.match(out, /--route: no route named "nope"; routes: prod/);
  });
});
