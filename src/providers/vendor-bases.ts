/**
 * Each vendor's default API base, in a leaf module: the adapters call it,
 * and the config checks name it as the example of a good base_url.
 */
export const VENDOR_BASES = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com/v1beta",
} as const;
