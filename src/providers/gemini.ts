/**
 * The Google Gemini adapter: POST models/{model}:streamGenerateContent?alt=sse
 * with the x-goog-api-key header.
 */
import type { GeminiProvider, ProviderConfig } from "../../gen/detour/v1/config_pb.js";
import { createModelCatalog } from "./catalog.ts";
import { VENDOR_MODELS } from "./catalog-data.ts";
import { geminiBody } from "./gemini-request.ts";
import { geminiVendorError, streamEvents, wholeResponseEvents } from "./gemini-response.ts";
import { createUpstreamHttp } from "./http.ts";
import { obj } from "./json.ts";
import { resolveKey } from "./keys.ts";
import type { HttpProviderDeps } from "./openai.ts";
import type { Provider, ProviderCall, ProviderEvent } from "./types.ts";
import { isJsonResponse, postOrThrow, readJson, sseEvents } from "./upstream-call.ts";
import { createSecretSet, headerSecrets } from "../upstream-text.ts";
import { newTargetRef } from "../literals.ts";
import { geminiBase, VENDOR_BASES } from "./vendor-bases.ts";
import { geminiModelPath } from "./model-path.ts";

/** The public Gemini API. */
const GEMINI_BASE_URL = geminiBase(VENDOR_BASES.gemini);

/** Builds a Gemini provider. */
export function createGeminiProvider(pc: ProviderConfig, cfg: GeminiProvider, deps: HttpProviderDeps = {}): Provider {
  const name = pc.name;
  const base = geminiBase(cfg.baseUrl || GEMINI_BASE_URL);
  const key = resolveKey(name, cfg.apiKey, base === GEMINI_BASE_URL ? ["GEMINI_API_KEY", "GOOGLE_API_KEY"] : [], deps.env);
  const http = deps.http ?? createUpstreamHttp(pc.upstream);
  const catalog = createModelCatalog(pc.models, base === GEMINI_BASE_URL ? VENDOR_MODELS.gemini : []);
  const headers: Record<string, string> = { ...cfg.headers };
  if (key) headers["x-goog-api-key"] = key;
  // An upstream that quotes a key or a header back never gets it past us.
  const secrets = deps.secrets ?? createSecretSet();
  secrets.add([key, ...headerSecrets(headers)]);
  const scrub = secrets.scrub;

  async function* stream(call: ProviderCall): AsyncGenerator<readonly ProviderEvent[]> {
    const hop = newTargetRef(name, call.model);
    const res = await postOrThrow({
      http,
      provider: name,
      hop,
      url: `${base}/${geminiModelPath(call.model, hop)}:streamGenerateContent?alt=sse`,
      headers,
      body: geminiBody(call.request, call.model, obj(call.request.providerOptions[name])),
      signal: call.signal,
      trace: call.trace,
      scrub,
      vendorError: geminiVendorError,
    });
    if (isJsonResponse(res)) {
      yield [...wholeResponseEvents(await readJson(res, hop, call.signal), hop)];
      return;
    }
    yield* streamEvents(sseEvents(res, hop, call.signal), hop, scrub);
  }

  return {
    name,
    system: "gcp.gemini",
    models: () => catalog.list(),
    describe: (model) => catalog.describe(model),
    stream,
    close: () => http.close(),
  };
}
