/**
 * Property tests of the OpenAI Chat Completions decoder with hostile JSON:
 * it returns a request the engine can validate and encode, or refuses with
 * INVALID_REQUEST naming the field at fault — never another exception.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CompleteRequestSchema, SamplingSchema } from "../../gen/detour/v1/chat_pb.js";
import { GatewayError } from "../../src/errors.js";
import { validateRequest } from "../../src/gateway/validate.js";
import { fingerprint } from "../../src/idempotency/store.js";
import { decodeChat } from "../../src/server/openai/decode.js";
import { fieldName, nestedArrays, nestedObjects, related, withValue, type Json, type Path } from "./json-paths.js";
import { mutatedChat, TRAP_STRINGS, unknownEnum, validChat } from "./openai-arbitraries.js";

const SEED = 20_240_611;
const RUNS = { seed: SEED, numRuns: 400 };

/** Asserts `e` is the decoder's refusal: INVALID_REQUEST whose message starts with the field it names. */
function assertRefusal(e: unknown): GatewayError {
  assert.ok(e instanceof GatewayError, `expected a GatewayError, got ${String(e)}`);
  assert.equal(e.reason, "INVALID_REQUEST", e.message);
  assert.equal(e.code, Code.InvalidArgument);
  assert.ok(e.field, `no field named: ${e.message}`);
  assert.ok(e.message.startsWith(`${e.field}: `), `the message does not lead with the field: ${e.message}`);
  assert.ok(e.message.length - e.field.length < 300, `the message echoes too much: ${e.message.slice(0, 200)}…`);
  return e;
}

/** Decodes, then validates and encodes as the engine would; returns the decoder's or the engine's refusal, if any. */
function decode(body: unknown): GatewayError | undefined {
  let request;
  try {
    request = decodeChat(body).request;
  } catch (e) {
    return assertRefusal(e);
  }
  // A decoded request must reach the engine intact: nothing may throw while
  // encoding it, and validation refuses it only with a field named.
  toBinary(CompleteRequestSchema, request);
  // The decoder builds the request and its sampling as literals: each has
  // every field create() would give it.
  for (const [made, empty] of [[request, create(CompleteRequestSchema)], [request.sampling, create(SamplingSchema)]] as const) {
    for (const k of Object.keys(empty)) assert.ok(made && k in made, `the decoded ${empty.$typeName} has no ${k}`);
  }
  fingerprint(request);
  try {
    validateRequest(request);
  } catch (e) {
    return assertRefusal(e);
  }
  return undefined;
}

const base = (extra: Json = {}): Json => ({ model: "sim/fast", messages: [{ role: "user", content: "hi" }], ...extra });

describe("OpenAI decoder properties", () => {
  test("property: any valid body decodes, validates and encodes", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(validChat, (body) => assert.equal(decode(body)?.message, undefined)),
      RUNS,
    );
  });

  test("property: any JSON value is decoded or refused naming a field", { timeout: 20_000 }, () => {
    fc.assert(fc.property(fc.jsonValue(), (body) => void decode(body)), RUNS);
  });

  test("property: known parameters with any JSON value are decoded or refused naming a field", { timeout: 20_000 }, () => {
    const keys = ["model", "messages", "tools", "tool_choice", "response_format", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "metadata", "n", "reasoning_effort", "modalities", "user", "logprobs", "audio"];
    fc.assert(fc.property(fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 4 })), (body) => void decode(body)), RUNS);
  });

  test("property: one field of a valid body changed or removed is refused naming that field (or the object holding it), or accepted", { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(mutatedChat, ({ body, path }) => {
        let refusal: GatewayError | undefined;
        try {
          decodeChat(body);
        } catch (e) {
          refusal = assertRefusal(e);
        }
        if (refusal) assert.ok(related(refusal.field ?? "", fieldName(path)), `changed ${fieldName(path)}, but the error names ${refusal.field}: ${refusal.message}`);
        decode(body);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  const enums: [string, Path, readonly string[]][] = [
    ["messages[].role", ["messages", 0, "role"], ["system", "developer", "user", "assistant", "tool"]],
    ["reasoning_effort", ["reasoning_effort"], ["none", "minimal", "low", "medium", "high", "xhigh"]],
    ["verbosity", ["verbosity"], ["low", "medium", "high"]],
    ["service_tier", ["service_tier"], ["auto", "default", "flex", "scale", "priority", "fast"]],
    ["prompt_cache_retention", ["prompt_cache_retention"], ["in_memory", "24h"]],
    ["tool_choice", ["tool_choice"], ["auto", "none", "required"]],
    ["response_format.type", ["response_format", "type"], ["text", "json_object", "json_schema"]],
    ["content part type", ["messages", 0, "content", 0, "type"], ["text", "image_url"]],
    ["image detail", ["messages", 0, "content", 0, "image_url", "detail"], ["auto", "low", "high"]],
    ["tool type", ["tools", 0, "type"], ["function"]],
  ];
  const enumBase = base({
    messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png", detail: "auto" } }] }],
    tools: [{ type: "function", function: { name: "f" } }],
    response_format: { type: "text" },
  });
  for (const [label, path, valid] of enums) {
    test(`property: an unknown ${label} is refused naming it`, () => {
      fc.assert(
        fc.property(unknownEnum(valid), (value) => {
          const e = decode(withValue(enumBase, path, value));
          assert.ok(e, `${JSON.stringify(value)} was accepted`);
          assert.equal(e.field, path.length === 1 ? String(path[0]) : fieldName(path));
        }),
        { seed: SEED, numRuns: 100 },
      );
    });
  }

  test("property: an unknown top-level parameter is refused naming it, whatever its name", () => {
    const known = new Set(["model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "user", "metadata", "n", "reasoning_effort", "modalities", "verbosity", "store", "prompt_cache_key", "prompt_cache_retention", "service_tier", "safety_identifier", "logprobs", "top_logprobs", "logit_bias", "audio", "prediction", "web_search_options", "functions", "function_call"]);
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...TRAP_STRINGS), fc.string({ maxLength: 16 })).filter((k) => !known.has(k)), (key) => {
        // Through JSON.parse, as the handler does, so "__proto__" is an own key.
        const body = JSON.parse(`{"model":"sim/fast","messages":[{"role":"user","content":"hi"}],${JSON.stringify(key)}:1}`) as unknown;
        const e = decode(body);
        assert.equal(e?.field, /^[A-Za-z_]\w*$/.test(key) ? key : `[${JSON.stringify(key)}]`);
        assert.match(e.message, /is not a Chat Completions parameter/);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe("OpenAI decoder with hostile shapes", () => {
  test("free-form JSON nested 100k deep is refused naming the field; 64 levels are fine", () => {
    for (const at of ['"tools":[{"type":"function","function":{"name":"f","parameters":%}}]', '"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":%}}']) {
      const e = decode(JSON.parse(`{"model":"sim/fast","messages":[{"role":"user","content":"hi"}],${at.replace("%", nestedObjects(100_000))}}`));
      assert.match(e?.message ?? "accepted", /^(tools\[0\]\.function\.parameters|response_format\.json_schema\.schema): nests deeper than 64 levels$/);
      const nested = (depth: number) => JSON.parse(`{"model":"sim/fast","messages":[{"role":"user","content":"hi"}],${at.replace("%", nestedObjects(depth))}}`) as unknown;
      assert.equal(decode(nested(64)), undefined);
      assert.match(decode(nested(65))?.message ?? "accepted", /nests deeper than 64 levels$/);
    }
  });

  test("a deeply nested value in a typed field is refused naming the field, without echoing it", () => {
    const deep = JSON.parse(nestedArrays(100_000)) as unknown;
    for (const [field, body] of [
      ["temperature", base({ temperature: deep })],
      ["stream", base({ stream: deep })],
      ["model", base({ model: deep })],
      ["messages[0].content", base({ messages: [{ role: "user", content: { a: deep } }] })],
      ["metadata.k", base({ metadata: { k: deep } })],
      ["stop[0]", base({ stop: [deep] })],
    ] as const) {
      assert.equal(decode(body)?.field, field);
    }
    assert.equal(decode(deep)?.message, "body: must be an object, got an array");
  });

  test("huge arrays and strings are decoded or refused by the engine's limits, naming the field", { timeout: 20_000 }, () => {
    const many = Array.from({ length: 20_000 }, () => ({ role: "user", content: "hi" }));
    assert.equal(decode(base({ messages: many }))?.field, "messages");
    const stops = Array.from({ length: 100_000 }, () => "x");
    assert.equal(decode(base({ stop: stops }))?.field, "sampling.stop");
    const tools = Array.from({ length: 1000 }, (_, i) => ({ type: "function", function: { name: `f${i}` } }));
    assert.equal(decode(base({ tools }))?.field, "tools");
    assert.equal(decode(base({ model: "m".repeat(1_000_000) }))?.field, "model");
    assert.equal(decode(base({ temperature: "x".repeat(1_000_000) }))?.message, 'temperature: must be a number, got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…');
  });

  test("numbers the request's types cannot hold are refused by the decoder", () => {
    for (const [body, field] of [
      [base({ max_tokens: 2 ** 32 }), "max_tokens"],
      [base({ max_tokens: 0 }), "max_tokens"],
      [base({ max_completion_tokens: 1e300 }), "max_completion_tokens"],
      [base({ seed: 2 ** 63 }), "seed"],
      [base({ seed: -1e300 }), "seed"],
      [base({ seed: 1.5 }), "seed"],
      [base({ n: -1 }), "n"],
    ] as const) {
      assert.equal(decode(body)?.field, field, JSON.stringify(body));
    }
    assert.equal(decode(base({ max_tokens: 2 ** 32 - 1, seed: -(2 ** 53 - 1) })), undefined);
  });

  test("a value of the wrong type for an enum-like field is refused, not coerced to text", () => {
    assert.equal(decode(base({ reasoning_effort: ["low"] }))?.field, "reasoning_effort");
    const img = { role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png", detail: ["high"] } }] };
    assert.equal(decode(base({ messages: [img] }))?.field, "messages[0].content[0].image_url.detail");
    assert.equal(decode(base({ constructor: 1 }))?.message, "constructor: is not a Chat Completions parameter Detour knows; remove it");
  });
});
