/**
 * What a refused config may not repeat. A config error is printed to a
 * terminal, a CI log or a pod's events, so a value found where a secret
 * belongs (an inline key under api_key, a token in an extra header, a
 * password in a URL) is described by its kind, never shown.
 */

// A field's name that says it holds a credential: api_key, *_token, secret,
// password, authorization, sha256, and header names such as x-api-key.
const SECRET_NAME = /(^|[-_])(api_?key|key|token|secret|password|passwd|authorization|auth|sha256|credentials?|cookie)$/i;

/** The names along a config path: `providers[0].openai.headers["x-api-key"]` → providers, 0, openai, headers, x-api-key. */
function segments(path: string): string[] {
  return [...path.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

/**
 * True when the value at `path` may be a secret: the field is named like one,
 * or it sits under api_key (whose env and file name where the key is; a
 * value there that is not a name may be the key itself).
 */
export function isSecretPath(path: string): boolean {
  const names = segments(path);
  const last = names.at(-1) ?? "";
  return SECRET_NAME.test(last) || names.some((n) => n === "api_key" || n === "apiKey");
}

/** How an error names a secret's value: its kind only. */
export function withheld(v: unknown): string {
  const kind = typeof v === "string" ? "a string" : typeof v === "number" ? "a number" : typeof v === "boolean" ? "true or false" : "a value";
  return `${kind} (withheld: the field may hold a secret)`;
}

const KEY_VARIABLES: Record<string, string> = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY", gemini: "GEMINI_API_KEY" };

/** The fix for a key written into the config at `path` (an api_key field) instead of named. */
export function apiKeyFix(path: string): string {
  const variable = segments(path).map((n) => KEY_VARIABLES[n]).find((v) => v !== undefined) ?? "PROVIDER_API_KEY";
  return `a key never goes in the config: write api_key: { env: ${variable} } (the variable that holds it) or api_key: { file: /run/secrets/key } (a mounted file)`;
}

/** A URL fit for an error message: a user and password in it are withheld. */
export function withoutCredentials(url: string): string {
  return url.replace(/^((?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/)?[^/?#@\s]+@/, "$1(credentials withheld)@");
}
