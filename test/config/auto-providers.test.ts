import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ConfigSchema, OpenAiDialect } from "../../gen/detour/v1/config_pb.js";
import { addAutoProviders } from "../../src/config/auto-providers.js";

test("auto-added providers name their dialect: openai for OPENAI_API_KEY, compatible for Groq, Mistral, DeepSeek", () => {
  const config = create(ConfigSchema);
  addAutoProviders(config, { OPENAI_API_KEY: "k", GROQ_API_KEY: "k", MISTRAL_API_KEY: "k", DEEPSEEK_API_KEY: "k" });
  const dialects = Object.fromEntries(config.providers.map((p) => [p.name, p.kind.case === "openai" ? p.kind.value.dialect : undefined]));
  assert.deepEqual(dialects, {
    openai: OpenAiDialect.OPENAI_DIALECT_OPENAI,
    groq: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE,
    mistral: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE,
    deepseek: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE,
  });
});
