import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";

type Msg = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Obj = Record<string, unknown>;

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } },
  { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { city: { type: "string" } } } } },
];

// A multi-step agent: Gemini calls one tool a turn (its functionCall parts
// carry no id: genai.d.ts FunctionCall.id is optional), then fails, and the
// conversation moves to Claude, which pairs tool_result with tool_use by id
// (docs.anthropic.com tool use: "Each tool_result block must have a
// corresponding tool_use block in the previous message"; the fake refuses
// repeated or unmatched ids like the real API).
describe("tool call IDs across turns and a Gemini → Anthropic fallback", () => {
  let gemini: VendorFake;
  let anthropic: VendorFake;
  let gw: TestApp;
  let client: OpenAI;
  before(async () => {
    gemini = await startGeminiFake();
    anthropic = await startAnthropicFake();
    gw = await startApp(`
auto_providers: false
breaker: { disabled: true }
providers:
  - { name: gemini, gemini: { base_url: "${gemini.url}/v1beta" } }
  - { name: anthropic, anthropic: { base_url: "${anthropic.url}" } }
routes:
  - name: agent
    on_error: { UPSTREAM_UNAVAILABLE: fallback }
    targets: [{ model: gemini/gemini-2.5-flash }, { model: anthropic/claude-haiku-4-5 }]
`);
    client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await gemini.close();
    await anthropic.close();
  });

  test("every turn's call gets its own id; each result goes back under its own function, on Gemini and after the fallback on Claude", async () => {
    const messages: Msg[] = [{ role: "user", content: "Weather and time in Paris?" }];
    const turn = async () => {
      const res = await client.chat.completions.create({ model: "agent", messages, tools: TOOLS });
      const msg = res.choices[0]?.message;
      assert.ok(msg);
      return msg;
    };

    gemini.enqueue({ kind: "tool_calls", calls: [{ name: "get_weather", arguments: '{"city":"Paris"}' }] });
    const first = await turn();
    const weather = first.tool_calls?.[0];
    assert.ok(weather?.type === "function" && weather.function.name === "get_weather");
    messages.push({ role: "assistant", content: null, tool_calls: first.tool_calls ?? [] }, { role: "tool", tool_call_id: weather.id, content: '{"sky":"sunny"}' });

    gemini.enqueue({ kind: "tool_calls", calls: [{ name: "get_time", arguments: '{"city":"Paris"}' }] });
    const second = await turn();
    const time = second.tool_calls?.[0];
    assert.ok(time?.type === "function" && time.function.name === "get_time");
    assert.notEqual(time.id, weather.id, "a second turn's call must not reuse the first one's id");
    messages.push({ role: "assistant", content: null, tool_calls: second.tool_calls ?? [] }, { role: "tool", tool_call_id: time.id, content: '{"time":"10:00"}' });

    // Gemini is down for the last turn: Claude finishes the conversation.
    gemini.enqueue({ kind: "error", status: 503 });
    anthropic.enqueue({ kind: "text", text: "Sunny, and it is ten." });
    const last = await turn();
    assert.equal(last.content, "Sunny, and it is ten.");

    // Gemini was told which function each result answers, in order.
    const sentToGemini = (gemini.requests.at(-1)?.body["contents"] as Obj[]).flatMap((c) => (c["parts"] as Obj[]).map((p) => p["functionResponse"] as Obj | undefined)).filter((r) => r !== undefined);
    assert.deepEqual(sentToGemini.map((r) => r["name"]), ["get_weather", "get_time"]);

    // Claude got each tool_use followed by the tool_result with its id.
    const sentToClaude = anthropic.requests.at(-1)?.body["messages"] as { role: string; content: Obj[] }[];
    const blocks = sentToClaude.flatMap((m) => m.content);
    const uses = blocks.filter((b) => b["type"] === "tool_use").map((b) => [b["id"], b["name"]]);
    const results = blocks.filter((b) => b["type"] === "tool_result").map((b) => b["tool_use_id"]);
    assert.deepEqual(uses, [[weather.id, "get_weather"], [time.id, "get_time"]]);
    assert.deepEqual(results, [weather.id, time.id]);
  });

  test("a functionCall id Gemini sends is the id the caller sees", async () => {
    gemini.enqueue({ kind: "tool_calls", calls: [{ id: "fc-from-gemini", name: "get_time", arguments: "{}" }] });
    const res = await client.chat.completions.create({ model: "agent", messages: [{ role: "user", content: "time?" }], tools: TOOLS });
    assert.equal(res.choices[0]?.message.tool_calls?.[0]?.id, "fc-from-gemini");
  });
});
