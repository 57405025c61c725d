/**
 * What one gateway key can do to another, end to end over both transports:
 * request IDs are each key's own.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");

const KEYS = `
keys:
  - { name: team-a, sha256: ${hash("k-a")} }
  - { name: team-b, sha256: ${hash("k-b")} }
`;

/** A Connect JSON unary call. */
function connectComplete(url: string, key: string, body: unknown): Promise<Response> {
  return fetch(`${url}/detour.v1.GatewayService/Complete`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

/** An OpenAI API chat call. */
function openaiChat(url: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
  });
}

describe("tenant isolation: request IDs", () => {
  let t: TestApp;
  before(async () => (t = await startApp(`${SIM_CONFIG}${KEYS}`)));
  after(() => t.close());

  test("key B sending key A's body and ID gets its own answer, not A's replayed one (OpenAI API and Connect)", async () => {
    const body = { model: "sim/echo", messages: [{ role: "user", content: "my secret order" }] };
    const a = await openaiChat(t.url, "k-a", body, { "idempotency-key": "order-7" });
    assert.equal(a.status, 200);
    const b = await openaiChat(t.url, "k-b", body, { "idempotency-key": "order-7" });
    assert.equal(b.status, 200);
    assert.equal(b.headers.get("x-detour-replayed"), null, "B's request was executed, not served from A's record");
    assert.notEqual(b.headers.get("x-request-id"), a.headers.get("x-request-id"));
    const chat = { model: "sim/echo", requestId: "order-9", messages: [{ role: "ROLE_USER", content: [{ text: "my secret order" }] }] };
    const ca = (await (await connectComplete(t.url, "k-a", chat)).json()) as { id: string };
    const cb = (await (await connectComplete(t.url, "k-b", chat)).json()) as { id: string; replayed?: boolean };
    assert.equal(cb.replayed, undefined, "over Connect too, B's request was executed");
    assert.notEqual(cb.id, ca.id);
  });

  test("key B claiming an ID first does not turn key A's real request into a 422", async () => {
    const squat = await connectComplete(t.url, "k-b", { model: "sim/echo", requestId: "order-8", messages: [{ role: "ROLE_USER", content: [{ text: "squatted" }] }] });
    assert.equal(squat.status, 200);
    const real = await openaiChat(t.url, "k-a", { model: "sim/echo", messages: [{ role: "user", content: "the real order" }] }, { "idempotency-key": "order-8" });
    assert.equal(real.status, 200, await real.clone().text());
    assert.equal(real.headers.get("x-detour-replayed"), null);
  });
});
