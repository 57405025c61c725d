/**
 * Text an upstream wrote is untrusted twice over: it may quote the gateway's
 * own secrets back (a key in "Incorrect API key provided: …", a header in an
 * error code), and it may quote the caller's prompt ("Invalid value for
 * 'messages[0].content': '…'"). This module scrubs the first by exact match,
 * bounds the machine fields to a plain charset, and marks the prose so that
 * telemetry can withhold it while the caller, whose prompt it is, still sees it.
 */

/** Removes every configured secret from a string an upstream wrote. */
export type Scrub = (text: string) => string;

/** What a scrubbed secret becomes. */
export const REDACTED = "[redacted]";

/** Secrets shorter than this are not matched: they would mangle ordinary words and protect nothing. */
const MIN_SECRET = 4;

/** Headers a gateway sends that are protocol, not credentials (a version would be scrubbed from every message naming it). */
const NOT_SECRET = new Set(["anthropic-version", "anthropic-beta", "content-type", "accept", "user-agent"]);

/**
 * A scrub for these secret values: each is replaced by "[redacted]" wherever
 * it appears, longest first, so a key that contains another is removed whole.
 */
export function createScrub(secrets: Iterable<string | undefined>): Scrub {
  const values = [...new Set([...secrets].map((s) => s?.trim() ?? "").filter((s) => s.length >= MIN_SECRET))];
  if (values.length === 0) return (text) => text;
  values.sort((a, b) => b.length - a.length);
  const re = new RegExp(values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  return (text) => text.replace(re, REDACTED);
}

/** The secrets of every provider of one config, gathered as each is built. */
export interface SecretSet {
  add(values: Iterable<string | undefined>): void;
  /** Scrubs all the secrets added so far, whichever provider's they are. */
  readonly scrub: Scrub;
}

/**
 * A set every adapter of a config adds its key and headers to, so each
 * upstream's text is scrubbed of all of them: a proxy upstream (OpenRouter,
 * a corporate relay) may have seen more than its own key.
 */
export function createSecretSet(): SecretSet {
  const values = new Set<string>();
  let current: Scrub | undefined;
  return {
    add(more) {
      for (const v of more) if (v) values.add(v);
      current = undefined;
    },
    scrub: (text) => (current ??= createScrub(values))(text),
  };
}

/**
 * The secret values among the headers an adapter sends on every call: the
 * key itself, a bearer token's credential, and every configured extra header
 * (the schema says "no secrets", but operators put tenant tokens there).
 */
export function headerSecrets(headers: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (NOT_SECRET.has(name.toLowerCase())) continue;
    out.push(value);
    const credential = /^\s*(?:bearer|basic|token)\s+(\S+)\s*$/i.exec(value)?.[1];
    if (credential) out.push(credential);
  }
  return out;
}

/** What a vendor's machine field (code, type, status) may look like: an identifier, not prose. */
const TOKEN = /^[A-Za-z0-9_.:\-[\] ]+$/;

/**
 * A vendor's machine field, scrubbed, if it is a short plain identifier;
 * otherwise undefined. A code that is long or full of punctuation is not a
 * code: it is a body smuggled into a field nobody redacts.
 */
export function upstreamToken(value: unknown, scrub: Scrub, max = 64): string | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const v = scrub(String(value).trim());
  return v.length > 0 && v.length <= max && TOKEN.test(v) ? v : undefined;
}

const OPEN = "\u201c";
const CLOSE = "\u201d";
const QUOTED = /\u201c[^\u201c\u201d]*\u201d/g;

/** The upstream's prose inside the marks `withholdUpstream` recognises (marks inside it are flattened). */
export function quoteUpstream(text: string): string {
  return `${OPEN}${text.replace(/[\u201c\u201d]/g, '"')}${CLOSE}`;
}

/** What telemetry shows in place of an upstream's prose. */
export const WITHHELD = "[upstream message withheld]";

/**
 * A message fit for logs and spans without telemetry.include_content: each
 * quoted upstream text is withheld, since it may repeat the prompt. The
 * gateway's own words, the reason and the status stay.
 */
export function withholdUpstream(message: string): string {
  return message.includes(OPEN) ? message.replace(QUOTED, WITHHELD) : message;
}
