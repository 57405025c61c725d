/**
 * The OpenAI Chat Completions adapter. It also serves the compatible family
 * (Mistral, DeepSeek, Groq, Together, Fireworks, xAI, OpenRouter, Ollama,
 * vLLM, LM Studio, …) with dialect: compatible, and Azure OpenAI by
 * deployment URL, api-version and the api-key header.
 */
import { OpenAiDialect, type OpenAiProvider, type ProviderConfig } from "../../gen/detour/v1/config_pb.js";
import { createModelCatalog } from "./catalog.ts";
import { VENDOR_MODELS } from "./catalog-data.ts";
import { createUpstreamHttp, type UpstreamHttp } from "./http.ts";
import { obj } from "./json.ts";
import { resolveKey } from "./keys.ts";
import { openaiBody, type OpenAIFlavor } from "./openai-request.ts";
import { chunkEvents, completionEvents, openaiVendorError } from "./openai-response.ts";
import type { Provider, ProviderCall, ProviderEvent } from "./types.ts";
import { isJsonResponse, postOrThrow, readJson, sseEvents } from "./upstream-call.ts";
import { createSecretSet, headerSecrets, type SecretSet } from "../upstream-text.ts";
import { newTargetRef } from "../literals.ts";
import { VENDOR_BASES } from "./vendor-bases.ts";
import { azureDeploymentSegment } from "./model-path.ts";
import type { TargetRef } from "../../gen/detour/v1/result_pb.js";

/** The public OpenAI API. */
const OPENAI_BASE_URL = VENDOR_BASES.openai;

/** gen_ai.provider.name of the compatible vendors the conventions name. */
const SYSTEMS: Record<string, string> = { mistral: "mistral_ai", groq: "groq", deepseek: "deepseek", xai: "x_ai", perplexity: "perplexity" };

/** Collaborators tests may replace. */
export interface HttpProviderDeps {
  readonly http?: UpstreamHttp;
  readonly env?: NodeJS.ProcessEnv;
  /** The secrets of the config's other providers, scrubbed from this one's errors too. */
  readonly secrets?: SecretSet;
}

/**
 * A request ID as a header value: visible ASCII as it is, anything else
 * (unicode, spaces) and "%" percent-encoded as UTF-8. A caller's legitimate
 * ID must never make the call fail before it leaves, which counted against
 * the provider's breaker for every tenant.
 */
export function headerSafe(id: string): string {
  return /^[\x21-\x24\x26-\x7e]*$/.test(id) ? id : id.replace(/[^\x21-\x24\x26-\x7e]/gu, (c) => [...Buffer.from(c, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""));
}

/** Builds an OpenAI-compatible provider. */
export function createOpenAIProvider(pc: ProviderConfig, cfg: OpenAiProvider, deps: HttpProviderDeps = {}): Provider {
  const name = pc.name;
  const base = (cfg.baseUrl || OPENAI_BASE_URL).replace(/\/+$/, "");
  const official = base === OPENAI_BASE_URL;
  const azure = cfg.azure;
  const key = resolveKey(name, cfg.apiKey, official ? ["OPENAI_API_KEY"] : [], deps.env);
  const http = deps.http ?? createUpstreamHttp(pc.upstream);
  const catalog = createModelCatalog(pc.models, official ? VENDOR_MODELS.openai : []);
  // The dialect is configuration, never inferred from base_url: a corporate
  // proxy in front of OpenAI must keep OpenAI's shape (its reasoning models
  // refuse max_tokens). Unset means openai, or azure with `azure:` set.
  const dialect = cfg.dialect || (azure ? OpenAiDialect.OPENAI_DIALECT_AZURE : OpenAiDialect.OPENAI_DIALECT_OPENAI);
  const compatible = dialect === OpenAiDialect.OPENAI_DIALECT_COMPATIBLE;
  const flavor: OpenAIFlavor = {
    maxTokensField: cfg.maxTokensField === "max_tokens" || cfg.maxTokensField === "max_completion_tokens"
      ? cfg.maxTokensField
      : compatible ? "max_tokens" : "max_completion_tokens",
    streamUsage: cfg.streamUsage ?? true,
    developerRole: cfg.developerRole ?? !compatible,
  };
  const headers: Record<string, string> = { ...cfg.headers };
  if (key) {
    if (azure) headers["api-key"] = key;
    else headers["authorization"] = `Bearer ${key}`;
  }
  // An upstream that quotes a key or a header back never gets it past us.
  const secrets = deps.secrets ?? createSecretSet();
  secrets.add([key, ...headerSecrets(headers)]);
  const scrub = secrets.scrub;

  const target = (model: string, hop: TargetRef) => {
    if (!azure) return { url: `${base}/chat/completions`, model };
    const deployment = azure.deployments[model] ?? model;
    const url = `${base}/openai/deployments/${azureDeploymentSegment(deployment, hop)}/chat/completions?api-version=${encodeURIComponent(azure.apiVersion)}`;
    return { url, model };
  };

  async function* stream(call: ProviderCall): AsyncGenerator<readonly ProviderEvent[]> {
    const hop = newTargetRef(name, call.model);
    const streaming = call.stream !== false && (catalog.describe(call.model)?.capabilities.streaming ?? true);
    const { url, model } = target(call.model, hop);
    const extra = obj(call.request.providerOptions[name]);
    const res = await postOrThrow({
      http,
      provider: name,
      hop,
      url,
      headers: call.requestId ? { ...headers, "x-client-request-id": headerSafe(call.requestId).slice(0, 512).replace(/%[0-9A-F]?$/, "") } : headers,
      body: openaiBody(call.request, model, flavor, streaming, extra),
      signal: call.signal,
      trace: call.trace,
      scrub,
      vendorError: openaiVendorError,
    });
    // A server that ignores "stream": true answers JSON; accept it.
    if (!streaming || isJsonResponse(res)) {
      yield [...completionEvents(await readJson(res, hop, call.signal), hop)];
      return;
    }
    yield* chunkEvents(sseEvents(res, hop, call.signal), hop, name, scrub);
  }

  return {
    name,
    system: azure ? "azure.ai.openai" : (SYSTEMS[name] ?? "openai"),
    models: () => catalog.list(),
    describe: (model) => catalog.describe(model),
    stream,
    close: () => http.close(),
  };
}
