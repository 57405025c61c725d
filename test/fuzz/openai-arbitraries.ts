/**
 * fast-check arbitraries for Chat Completions bodies: valid requests, and
 * hostile ones made by changing one field of a valid request, so a refusal
 * can be checked against the field that was changed.
 */
import fc from "fast-check";
import { pathsOf, withValue, type Json, type Path } from "./json-paths.js";

/** Strings a lookup table might answer by accident, and near misses of real values. */
export const TRAP_STRINGS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "", " ", "USER", "ROLE_USER", "user ", "Auto", "json", "1", "null"] as const;

const text = fc.string({ minLength: 1, maxLength: 12 });
const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/);

const textPart = fc.record({ type: fc.constant("text"), text });
const imagePart = fc.record(
  { type: fc.constant("image_url"), image_url: fc.record({ url: fc.constant("https://example.com/cat.png"), detail: fc.constantFrom("auto", "low", "high") }, { requiredKeys: ["url"] }) },
);
const message: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ role: fc.constantFrom("system", "developer", "user", "assistant"), content: text }),
  fc.record({ role: fc.constant("user"), content: fc.array(fc.oneof(textPart, imagePart), { minLength: 1, maxLength: 3 }) }),
  fc.record({ role: fc.constant("assistant"), content: fc.constant(null), tool_calls: fc.array(fc.record({ id: name, type: fc.constant("function"), function: fc.record({ name, arguments: fc.constant('{"a":1}') }) }), { minLength: 1, maxLength: 2 }) }),
  fc.record({ role: fc.constant("tool"), tool_call_id: name, content: text }),
);
const schema = fc.record({ type: fc.constant("object"), properties: fc.dictionary(name, fc.record({ type: fc.constantFrom("string", "number", "boolean") }), { maxKeys: 4 }) });
const tool = fc.record(
  { type: fc.constant("function"), function: fc.record({ name, description: text, parameters: schema, strict: fc.boolean() }, { requiredKeys: ["name"] }) },
);
const responseFormat = fc.oneof(
  fc.record({ type: fc.constantFrom("text", "json_object") }),
  fc.record({ type: fc.constant("json_schema"), json_schema: fc.record({ name, schema, strict: fc.boolean() }, { requiredKeys: ["name"] }) }),
);

/** A Chat Completions body the decoder accepts. */
export const validChat: fc.Arbitrary<Json> = fc.record(
  {
    model: fc.constantFrom("sim/fast", "sim/echo", "default"),
    messages: fc.array(message, { minLength: 1, maxLength: 4 }),
    tools: fc.uniqueArray(tool, { maxLength: 2, selector: (t) => t.function.name }),
    tool_choice: fc.constantFrom("auto", "none", "required"),
    parallel_tool_calls: fc.boolean(),
    response_format: responseFormat,
    stream: fc.boolean(),
    stream_options: fc.record({ include_usage: fc.boolean() }),
    max_tokens: fc.integer({ min: 1, max: 4096 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    stop: fc.oneof(text, fc.array(text, { maxLength: 4 })),
    seed: fc.integer(),
    presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    user: text,
    metadata: fc.dictionary(name, text, { maxKeys: 3 }),
    n: fc.constant(1),
    reasoning_effort: fc.constantFrom("none", "minimal", "low", "medium", "high", "xhigh", null),
    modalities: fc.constantFrom(["text"], null),
    verbosity: fc.constantFrom("low", "medium", "high", null),
    service_tier: fc.constantFrom("auto", "default", "flex", "scale", "priority", "fast", null),
    prompt_cache_retention: fc.constantFrom("in_memory", "24h", null),
    prompt_cache_key: fc.string({ maxLength: 64 }),
    safety_identifier: fc.string({ maxLength: 64 }),
    store: fc.boolean(),
  },
  { requiredKeys: ["model", "messages"] },
);

/** One change to a valid body, and where it was made. */
export interface Mutation {
  readonly body: Json;
  readonly path: Path;
}

/** A value of the wrong kind for almost any field: any JSON, a trap string, a huge or odd number. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...TRAP_STRINGS),
  fc.constantFrom(0, -1, 1.5, 2 ** 32, 2 ** 53, 1e300, -1e300, Number.MIN_VALUE),
  fc.string({ maxLength: 8 }),
  fc.array(fc.constant("x"), { minLength: 1000, maxLength: 1000 }),
);

/** A valid body with one field replaced by a hostile value, or removed. */
export const mutatedChat: fc.Arbitrary<Mutation> = fc
  .tuple(validChat, fc.nat(), fc.boolean(), hostileValue)
  .map(([body, at, remove, value]) => {
    const paths = pathsOf(body);
    const path = paths[at % paths.length] as Path;
    return { body: withValue(body, path, remove ? undefined : value), path };
  });

/** Strings that are not a valid value of an enum-like field whose values are `valid`. */
export function unknownEnum(valid: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom(...TRAP_STRINGS), fc.string({ maxLength: 12 })).filter((s) => !valid.includes(s));
}
