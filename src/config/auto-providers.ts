/**
 * Providers that join by themselves: for each vendor whose API key is set in
 * the environment and that the config does not already name, a provider is
 * added with the vendor's usual name and base URL. Turn off with
 * `auto_providers: false`.
 */
import { create } from "@bufbuild/protobuf";
import { OpenAiDialect, ProviderConfigSchema, type Config, type ProviderConfig } from "../../gen/detour/v1/config_pb.js";

interface AutoProvider {
  readonly name: string;
  readonly env: readonly string[];
  readonly make: (env: string) => ProviderConfig;
}

const apiKey = (env: string) => ({ source: { case: "env" as const, value: env } });

const compatible = (name: string, baseUrl: string, env: string): AutoProvider => ({
  name,
  env: [env],
  make: (e) => create(ProviderConfigSchema, { name, kind: { case: "openai", value: { baseUrl, apiKey: apiKey(e), dialect: OpenAiDialect.OPENAI_DIALECT_COMPATIBLE } } }),
});

/** Vendors recognised from their key's environment variable. */
export const AUTO_PROVIDERS: readonly AutoProvider[] = [
  {
    name: "openai",
    env: ["OPENAI_API_KEY"],
    make: (e) => create(ProviderConfigSchema, { name: "openai", kind: { case: "openai", value: { apiKey: apiKey(e), dialect: OpenAiDialect.OPENAI_DIALECT_OPENAI } } }),
  },
  {
    name: "anthropic",
    env: ["ANTHROPIC_API_KEY"],
    make: (e) => create(ProviderConfigSchema, { name: "anthropic", kind: { case: "anthropic", value: { apiKey: apiKey(e) } } }),
  },
  {
    name: "gemini",
    env: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    make: (e) => create(ProviderConfigSchema, { name: "gemini", kind: { case: "gemini", value: { apiKey: apiKey(e) } } }),
  },
  compatible("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
  compatible("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
  compatible("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
  compatible("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
  compatible("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
  compatible("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
  compatible("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
];

/** Adds the providers whose keys are in `env`; returns the names added. */
export function addAutoProviders(config: Config, env: NodeJS.ProcessEnv): string[] {
  if (config.autoProviders === false) return [];
  const added: string[] = [];
  for (const auto of AUTO_PROVIDERS) {
    if (config.providers.some((p) => p.name === auto.name)) continue;
    const name = auto.env.find((e) => env[e]);
    if (!name) continue;
    config.providers.push(auto.make(name));
    added.push(auto.name);
  }
  return added;
}
