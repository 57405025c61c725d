/**
 * The Anthropic Messages adapter: POST /v1/messages with x-api-key and
 * anthropic-version, always streaming.
 */
import { create } from "@bufbuild/protobuf";
import type { AnthropicProvider, ProviderConfig } from "../../gen/detour/v1/config_pb.js";
import { CapabilitiesSchema } from "../../gen/detour/v1/gateway_pb.js";
import { GatewayError } from "../errors.ts";
import { anthropicBody } from "./anthropic-request.ts";
import { anthropicVendorError, messageEvents, wholeMessageEvents } from "./anthropic-response.ts";
import { createModelCatalog } from "./catalog.ts";
import { VENDOR_MODELS } from "./catalog-data.ts";
import { createUpstreamHttp } from "./http.ts";
import { obj } from "./json.ts";
import { resolveKey } from "./keys.ts";
import type { HttpProviderDeps } from "./openai.ts";
import type { Provider, ProviderCall, ProviderEvent } from "./types.ts";
import { isJsonResponse, postOrThrow, readJson, sseEvents } from "./upstream-call.ts";
import { createSecretSet, headerSecrets } from "../upstream-text.ts";
import { newTargetRef } from "../literals.ts";
import { anthropicBase, VENDOR_BASES } from "./vendor-bases.ts";

/** The public Anthropic API. */
const ANTHROPIC_BASE_URL = VENDOR_BASES.anthropic;

/** The API version sent unless the config names another. */
export const ANTHROPIC_VERSION = "2023-06-01";

/**
 * The first API version without temperature, top_p and top_k (the version
 * @anthropic-ai/sdk 1.13 sends; its MessageCreateParamsBase has none of them).
 */
export const SAMPLING_FREE_VERSION = "2026-10-21";

/** Sampling parameters that SAMPLING_FREE_VERSION and later refuse. */
const REFUSED_SAMPLING = ["temperature", "top_p", "top_k"];

/** Output limit for models the catalog does not know, since the API requires one. */
const FALLBACK_MAX_TOKENS = 4096;

/** Builds an Anthropic provider. */
export function createAnthropicProvider(pc: ProviderConfig, cfg: AnthropicProvider, deps: HttpProviderDeps = {}): Provider {
  const name = pc.name;
  const base = anthropicBase(cfg.baseUrl || ANTHROPIC_BASE_URL);
  const key = resolveKey(name, cfg.apiKey, base === ANTHROPIC_BASE_URL ? ["ANTHROPIC_API_KEY"] : [], deps.env);
  const http = deps.http ?? createUpstreamHttp(pc.upstream);
  const catalog = createModelCatalog(pc.models, base === ANTHROPIC_BASE_URL ? VENDOR_MODELS.anthropic : []);
  const version = cfg.version || ANTHROPIC_VERSION;
  // What a model accepts depends on the configured API version: on a version
  // that refuses a sampling parameter, the target is set aside with the reason
  // (CAPABILITY_MISMATCH, so the chain falls back), never sent it to fail
  // with a 400 and never silently stripped of it.
  const samplingFree = version >= SAMPLING_FREE_VERSION;
  const describe = (model: string) => {
    const entry = catalog.describe(model);
    if (!entry || !samplingFree) return entry;
    const capabilities = create(CapabilitiesSchema, { ...entry.capabilities, samplingParams: entry.capabilities.samplingParams.filter((p) => !REFUSED_SAMPLING.includes(p)) });
    return { ...entry, capabilities };
  };
  const headers: Record<string, string> = { "anthropic-version": version, ...cfg.headers };
  // 2023-06-01 clients authenticate with x-api-key; the versions current SDKs
  // send (2026 and later) take the key as a bearer token.
  if (key) {
    if (version < "2026-01-01") headers["x-api-key"] = key;
    else headers["authorization"] = `Bearer ${key}`;
  }
  // An upstream that quotes a key or a header back never gets it past us.
  const secrets = deps.secrets ?? createSecretSet();
  secrets.add([key, ...headerSecrets(headers)]);
  const scrub = secrets.scrub;

  async function* stream(call: ProviderCall): AsyncGenerator<readonly ProviderEvent[]> {
    const hop = newTargetRef(name, call.model);
    const maxTokens = describe(call.model)?.capabilities.maxOutputTokens || FALLBACK_MAX_TOKENS;
    if (samplingFree) {
      // A model the catalog does not know passes the plan's check with the
      // common parameters; refuse here, before the call, for the same fallback.
      const s = call.request.sampling;
      const sent = [s?.temperature !== undefined && "temperature", s?.topP !== undefined && "top_p", s?.topK !== undefined && "top_k"].filter((x): x is string => typeof x === "string");
      if (sent.length > 0) {
        throw new GatewayError("CAPABILITY_MISMATCH", `${call.model} on anthropic-version ${version} does not accept ${sent.join(", ")}`, { hop });
      }
    }
    const res = await postOrThrow({
      http,
      provider: name,
      hop,
      url: `${base}/v1/messages`,
      headers,
      body: anthropicBody(call.request, call.model, maxTokens, true, obj(call.request.providerOptions[name])),
      signal: call.signal,
      trace: call.trace,
      scrub,
      vendorError: anthropicVendorError,
    });
    if (isJsonResponse(res)) {
      yield [...wholeMessageEvents(await readJson(res, hop, call.signal), hop)];
      return;
    }
    yield* messageEvents(sseEvents(res, hop, call.signal), hop, name, scrub);
  }

  return {
    name,
    system: "anthropic",
    models: () => catalog.list().map((e) => describe(e.name) ?? e),
    describe,
    stream,
    close: () => http.close(),
  };
}
