import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { newTargetRef } from "../../src/literals.js";
import { safeMessage, upstreamError } from "../../src/providers/upstream-errors.js";
import { createScrub, createSecretSet, headerSecrets, quoteUpstream, upstreamToken, withholdUpstream, WITHHELD } from "../../src/upstream-text.js";

const hop = newTargetRef("p", "m");
const none = (t: string) => t;

// A configured secret: 8+ characters of a key's alphabet, with a letter and a digit
// (so it cannot be spelt by the gateway's own words around it).
const secret = fc
  .stringMatching(/^[A-Za-z0-9._-]{8,40}$/)
  .filter((s) => /[A-Za-z]/.test(s) && /\d/.test(s));

describe("upstream text", () => {
  test("property: a configured secret anywhere in an upstream's message or code, at any length of message, never survives into the error", () => {
    fc.assert(
      fc.property(secret, fc.string({ maxLength: 400 }), fc.string({ maxLength: 400 }), fc.integer({ min: 400, max: 599 }), (key, before, after, status) => {
        const scrub = createScrub([key]);
        const e = upstreamError("p", hop, { status, code: key, message: `${before}${key}${after}` }, {}, scrub);
        assert.ok(!e.message.includes(key), e.message);
      }),
    );
  });

  test("keys the gateway was not configured with are redacted by shape, short and dotted ones too", () => {
    for (const k of ["sk-abc", "sk-proj.Xy12", "sk-ant-api03.x_y", "AIzaSy.c4n4ry", "eyJhbGciOi.eyJzdWIi.sig", "Bearer abc.def", "api_key=live.123", `${"a1".repeat(20)}`]) {
      const shown = safeMessage(`rejected ${k} here`, none);
      assert.ok(!shown.includes(k), `${k} → ${shown}`);
      assert.match(shown, /\[redacted\]/);
    }
    assert.equal(safeMessage("model gpt-4o-mini-2024-07-18 at generativelanguage.googleapis.com does not exist", none), "model gpt-4o-mini-2024-07-18 at generativelanguage.googleapis.com does not exist");
  });

  test("a vendor's code passes only as a short identifier: prose, markup and long values are dropped", () => {
    assert.equal(upstreamToken("context_length_exceeded", none), "context_length_exceeded");
    assert.equal(upstreamToken("RESOURCE_EXHAUSTED", none), "RESOURCE_EXHAUSTED");
    assert.equal(upstreamToken("messages[0].content", none, 128), "messages[0].content");
    assert.equal(upstreamToken("<script>alert(1)</script>", none), undefined);
    assert.equal(upstreamToken('{"key":"x"}', none), undefined);
    assert.equal(upstreamToken("x".repeat(65), none), undefined);
    assert.equal(upstreamToken("line\nbreak", none), undefined);
    assert.equal(upstreamToken({ nested: true }, none), undefined);
    assert.equal(upstreamToken("tok.c4n4ry", createScrub(["tok.c4n4ry"])), "[redacted]");
  });

  test("every provider's secrets are scrubbed from every upstream's text, including a bearer token's credential and custom headers", () => {
    const set = createSecretSet();
    set.add(headerSecrets({ authorization: "Bearer own.k3y.1", "anthropic-version": "2023-06-01" }));
    set.add(headerSecrets({ "x-tenant": "tenant.s3cret" }));
    assert.equal(set.scrub("saw own.k3y.1 and tenant.s3cret on 2023-06-01"), "saw [redacted] and [redacted] on 2023-06-01");
    assert.equal(createScrub(["abc"])("abc"), "abc", "a 3-character value protects nothing and would mangle words");
  });

  test("property: quoted upstream text is withheld whole, whatever marks it contains, and the gateway's words around it stay", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const message = `p answered HTTP 400 (bad): ${quoteUpstream(`zq9${text}zq9`)}; then p/m: INTERNAL (x)`;
        const told = withholdUpstream(message);
        assert.ok(!told.includes("zq9"), told);
        assert.equal(told, `p answered HTTP 400 (bad): ${WITHHELD}; then p/m: INTERNAL (x)`);
      }),
    );
  });
});
