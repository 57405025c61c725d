/**
 * Builds the configured providers, one adapter per wire format.
 */
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { createAnthropicProvider } from "./anthropic.ts";
import { createGeminiProvider } from "./gemini.ts";
import { createOpenAIProvider, type HttpProviderDeps } from "./openai.ts";
import { createSimulatedProvider, type SimulatedDeps } from "./simulated.ts";
import type { Provider } from "./types.ts";
import { createSecretSet } from "../upstream-text.ts";

/** Dependencies shared by provider adapters; tests replace them. */
export interface ProviderDeps {
  simulated?: SimulatedDeps;
  http?: HttpProviderDeps;
}

/** Provider adapters by name. */
export type Providers = ReadonlyMap<string, Provider>;

/** Creates one adapter per configured provider. */
export function createProviders(config: Config, deps: ProviderDeps = {}): Providers {
  const out = new Map<string, Provider>();
  const http = { ...deps.http, secrets: deps.http?.secrets ?? createSecretSet() };
  for (const p of config.providers) {
    switch (p.kind.case) {
      case "simulated":
        out.set(p.name, createSimulatedProvider(p.name, p.kind.value, deps.simulated));
        break;
      case "openai":
        out.set(p.name, createOpenAIProvider(p, p.kind.value, http));
        break;
      case "anthropic":
        out.set(p.name, createAnthropicProvider(p, p.kind.value, http));
        break;
      case "gemini":
        out.set(p.name, createGeminiProvider(p, p.kind.value, http));
        break;
      default:
        throw new Error(`providers: "${p.name}" names no wire format`);
    }
  }
  return out;
}
