/**
 * The built-in model catalog: capabilities and list prices (USD per million
 * tokens: input, cached input, output). Data, not code; every entry can be
 * replaced from config (providers[].models). Prices are the vendors'
 * published list prices as of the date below; check them before relying on
 * cost ceilings.
 */

/** The date the prices below were read. */
export const PRICES_AS_OF = "2025-10-01";

/** Sampling parameter names, as in Capabilities.sampling_params. */
const CLASSIC = ["temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty"];
const ANTHROPIC = ["temperature", "top_p", "top_k", "stop"];
// Claude 4.1 and 4.5 models reject top_p next to temperature, and newer API
// versions reject more: only what every version takes is listed.
const ANTHROPIC_NEW = ["temperature", "stop"];
const GEMINI = ["temperature", "top_p", "top_k", "seed", "stop", "presence_penalty", "frequency_penalty"];
const REASONING: string[] = ["seed"];

/** A catalog row. */
export interface CatalogRow {
  readonly tools: boolean;
  readonly parallel: boolean;
  readonly jsonMode: boolean;
  readonly jsonSchema: boolean;
  readonly vision: boolean;
  readonly streaming: boolean;
  readonly context: number;
  readonly maxOutput: number;
  readonly sampling: readonly string[];
  readonly prefill: boolean;
  readonly reasoning: boolean;
  /** [input, cached input, output] per million tokens. */
  readonly price: readonly [number, number, number];
}

const openai = (context: number, maxOutput: number, price: CatalogRow["price"], reasoning = false): CatalogRow => ({
  tools: true,
  parallel: true,
  jsonMode: true,
  jsonSchema: true,
  vision: true,
  streaming: true,
  context,
  maxOutput,
  sampling: reasoning ? REASONING : CLASSIC,
  prefill: false,
  reasoning,
  price,
});

// Structured outputs (output_config.format) are served by Claude Opus 4.1,
// Sonnet 4.5, Haiku 4.5 and later (platform.claude.com structured-outputs).
const claude = (maxOutput: number, price: CatalogRow["price"], sampling: readonly string[] = ANTHROPIC, structured = false): CatalogRow => ({
  tools: true,
  parallel: true,
  jsonMode: structured,
  jsonSchema: structured,
  vision: true,
  streaming: true,
  context: 200_000,
  maxOutput,
  sampling,
  prefill: true,
  reasoning: false,
  price,
});

const gemini = (maxOutput: number, price: CatalogRow["price"], reasoning = true): CatalogRow => ({
  tools: true,
  parallel: true,
  jsonMode: true,
  jsonSchema: true,
  vision: true,
  streaming: true,
  context: 1_048_576,
  maxOutput,
  sampling: GEMINI,
  prefill: false,
  reasoning,
  price,
});

const textOnly = (context: number, maxOutput: number, price: CatalogRow["price"], tools = true): CatalogRow => ({
  tools,
  parallel: tools,
  jsonMode: true,
  jsonSchema: false,
  vision: false,
  streaming: true,
  context,
  maxOutput,
  sampling: CLASSIC,
  prefill: false,
  reasoning: false,
  price,
});

/** Rows by model name. Dated snapshots ("gpt-4o-2024-08-06") match their base name. */
export const CATALOG: Readonly<Record<string, CatalogRow>> = {
  // OpenAI
  "gpt-4o": openai(128_000, 16_384, [2.5, 1.25, 10]),
  "gpt-4o-mini": openai(128_000, 16_384, [0.15, 0.075, 0.6]),
  "gpt-4.1": openai(1_047_576, 32_768, [2, 0.5, 8]),
  "gpt-4.1-mini": openai(1_047_576, 32_768, [0.4, 0.1, 1.6]),
  "gpt-4.1-nano": openai(1_047_576, 32_768, [0.1, 0.025, 0.4]),
  "gpt-5": openai(400_000, 128_000, [1.25, 0.125, 10], true),
  "gpt-5-mini": openai(400_000, 128_000, [0.25, 0.025, 2], true),
  "gpt-5-nano": openai(400_000, 128_000, [0.05, 0.005, 0.4], true),
  o3: openai(200_000, 100_000, [2, 0.5, 8], true),
  "o4-mini": openai(200_000, 100_000, [1.1, 0.275, 4.4], true),
  // Anthropic
  "claude-opus-4-1": claude(32_000, [15, 1.5, 75], ANTHROPIC_NEW, true),
  "claude-opus-4": claude(32_000, [15, 1.5, 75]),
  "claude-sonnet-4-5": claude(64_000, [3, 0.3, 15], ANTHROPIC_NEW, true),
  "claude-sonnet-4": claude(64_000, [3, 0.3, 15]),
  "claude-haiku-4-5": claude(64_000, [1, 0.1, 5], ANTHROPIC_NEW, true),
  "claude-3-5-haiku": claude(8_192, [0.8, 0.08, 4]),
  // Google
  "gemini-2.5-pro": gemini(65_536, [1.25, 0.31, 10]),
  "gemini-2.5-flash": gemini(65_536, [0.3, 0.075, 2.5]),
  "gemini-2.5-flash-lite": gemini(65_536, [0.1, 0.025, 0.4]),
  "gemini-2.0-flash": gemini(8_192, [0.1, 0.025, 0.4], false),
  // OpenAI-compatible family
  "mistral-large-latest": textOnly(128_000, 8_192, [2, 2, 6]),
  "mistral-small-latest": textOnly(128_000, 8_192, [0.1, 0.1, 0.3]),
  "deepseek-chat": textOnly(128_000, 8_192, [0.28, 0.028, 0.42]),
  "deepseek-reasoner": textOnly(128_000, 64_000, [0.28, 0.028, 0.42], false),
  "llama-3.3-70b-versatile": textOnly(131_072, 32_768, [0.59, 0.59, 0.79]),
  "llama-3.1-8b-instant": textOnly(131_072, 131_072, [0.05, 0.05, 0.08]),
};

/** Catalog models listed for each vendor's official API in ListModels. */
export const VENDOR_MODELS = {
  openai: ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"],
  anthropic: ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku-latest"],
  gemini: ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"],
} as const;
