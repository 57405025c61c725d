/**
 * What an upstream's error means for the chain: when to retry, when to fall
 * back, and what counts as the gateway's credentials being refused.
 *
 * Sources: Anthropic's rate-limit headers (docs.anthropic.com/en/api/rate-limits:
 * "anthropic-ratelimit-requests-reset: the time when the rate limit will be
 * fully replenished", and "retry-after: the number of seconds to wait");
 * Google's error model (cloud.google.com/apis/design/errors: a bad API key
 * is INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID), the body below
 * being what generativelanguage.googleapis.com answers a wrong key.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startAnthropicFake } from "../fakes/anthropic-fake.js";
import { startGeminiFake } from "../fakes/gemini-fake.js";
import type { VendorFake } from "../fakes/vendor-fake.js";
import { startApp, type TestApp } from "../helpers/app.js";

const BAD_GEMINI_KEY = {
  error: {
    code: 400,
    message: "API key not valid. Please pass a valid API key.",
    status: "INVALID_ARGUMENT",
    details: [
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } },
      { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", locale: "en-US", message: "API key not valid. Please pass a valid API key." },
    ],
  },
};

interface Trail {
  servedBy?: { provider: string };
  attempts: { target: { provider: string }; reason?: string; decision: string; backoff?: string }[];
}

describe("the meaning of upstream errors in a chain", () => {
  let claude: VendorFake;
  let gemini: VendorFake;
  let t: TestApp;
  before(async () => {
    claude = await startAnthropicFake();
    gemini = await startGeminiFake();
    t = await startApp(
      `
auto_providers: false
server: { drain_timeout: 2s }
providers:
  - { name: claude, anthropic: { base_url: "${claude.url}", api_key: { env: ANTHROPIC_KEY } } }
  - { name: gemini, gemini: { base_url: "${gemini.url}/v1beta", api_key: { env: GEMINI_KEY } } }
  - name: sim
    simulated: { models: [{ name: ok, output: { kind: text, text: "from sim" } }] }
routes:
  - name: claude-first
    deadline: 20s
    backoff: { base: 1ms, max: 5ms }
    targets: [{ model: claude/claude-haiku-4-5, retries: 1 }, { model: sim/ok }]
  - name: gemini-first
    targets: [{ model: gemini/gemini-2.5-flash }, { model: sim/ok }]
  - name: gemini-stream
    targets: [{ model: gemini/gemini-2.5-flash, retries: 1 }, { model: sim/ok }]
`,
      { providerDeps: { http: { env: { ANTHROPIC_KEY: "sk-ant-test", GEMINI_KEY: "AIza-test-key" } } } },
    );
  });
  after(async () => {
    await t.close();
    await claude.close();
    await gemini.close();
  });
  const chat = async (model: string, stream = false): Promise<Trail> => {
    const res = await fetch(`${t.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(res.status, 200);
    if (!stream) return ((await res.json()) as { detour: Trail }).detour;
    const last = (await res.text()).split("\n\n").filter((f) => f.startsWith("data: {")).at(-1) ?? "";
    return (JSON.parse(last.slice(6)) as { detour: Trail }).detour;
  };

  test("an Anthropic 529 with rate-limit reset headers a minute away is retried on time, not after the reset", async () => {
    const reset = new Date(Date.now() + 60_000).toISOString();
    claude.enqueue({ kind: "error", status: 529, headers: { "anthropic-ratelimit-requests-reset": reset, "anthropic-ratelimit-tokens-reset": reset } });
    claude.enqueue({ kind: "text", text: "claude is back" });
    const trail = await chat("claude-first");
    assert.equal(trail.servedBy?.provider, "claude", "the retry on the same target served, within the 20 s deadline");
    assert.equal(trail.attempts[0]?.reason, "UPSTREAM_OVERLOADED");
    assert.equal(trail.attempts[0]?.decision, "DECISION_RETRY");
    assert.ok(Number.parseFloat(trail.attempts[0]?.backoff ?? "0s") < 1, `backoff ${trail.attempts[0]?.backoff}`);
  });

  test("a bad Gemini key (400 API_KEY_INVALID) is the gateway's credentials: the chain falls back, and the provider-wide breaker counts it", async () => {
    gemini.enqueue({ kind: "raw_error", status: 400, body: BAD_GEMINI_KEY });
    const trail = await chat("gemini-first");
    assert.equal(trail.servedBy?.provider, "sim");
    assert.equal(trail.attempts[0]?.reason, "UPSTREAM_AUTH");
    assert.equal(trail.attempts[0]?.decision, "DECISION_FALLBACK");
    const breakers = (await (await fetch(`${t.url}/detour.v1.AdminService/ListBreakers`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json()) as {
      breakers: { target: { provider: string; model?: string }; windowFailures?: number }[];
    };
    const providerWide = breakers.breakers.find((b) => b.target.provider === "gemini" && !b.target.model);
    assert.equal(providerWide?.windowFailures, 1);
  });

  test("a Gemini error inside a stream keeps its status's meaning: a 429 mid-stream is a rate limit, retried", async () => {
    const frame = `data: ${JSON.stringify({ error: { code: 429, message: "Resource has been exhausted", status: "RESOURCE_EXHAUSTED" } })}\r\n\r\n`;
    gemini.enqueue({ kind: "raw_frames", afterFrames: 0, frames: [frame], reply: { kind: "text", text: "x" } });
    gemini.enqueue({ kind: "text", text: "gemini again" });
    const trail = await chat("gemini-stream", true);
    assert.equal(trail.attempts[0]?.reason, "RATE_LIMITED");
    assert.equal(trail.attempts[0]?.decision, "DECISION_RETRY");
  });
});
