/**
 * Each vendor's default API base, in a leaf module: the adapters call it,
 * and the config checks name it as the example of a good base_url. Each is
 * the form the vendor's own SDK takes: openai baseURL (with /v1),
 * @anthropic-ai/sdk baseURL (no /v1), @google/genai httpOptions.baseUrl
 * (no version: apiVersion is separate, v1beta by default).
 */
export const VENDOR_BASES = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com",
} as const;

/** An Anthropic base as the SDK takes it; a trailing /v1 (the other common form) is dropped, since paths add their own. */
export function anthropicBase(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/** A Gemini base with its API version: as given when it names one (/v1beta, /v1, /v1alpha), else with /v1beta as @google/genai adds. */
export function geminiBase(url: string): string {
  const base = url.replace(/\/+$/, "");
  return /\/v1(beta|alpha)?$/.test(base) ? base : `${base}/v1beta`;
}
