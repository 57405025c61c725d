/**
 * Response header values that carry strings from callers or upstreams (a
 * request ID, a provider's model name). Node refuses to write a header with
 * CR/LF or characters beyond Latin-1, and by then the call has run and been
 * paid for; such values are percent-encoded instead.
 */

/** Visible ASCII and space, except "%" (so an encoded value reads back unambiguously). */
const PLAIN = /^[\x20-\x24\x26-\x7E]*$/;
const NOT_PLAIN = /[^\x20-\x24\x26-\x7E]/gu;
const LONE_SURROGATE = /^[\uD800-\uDFFF]$/;

/** `s` as it is when every character is plain, else with the others percent-encoded as UTF-8. */
export function headerValue(s: string): string {
  if (PLAIN.test(s)) return s;
  // encodeURIComponent throws on a lone surrogate: it becomes U+FFFD.
  return s.replace(NOT_PLAIN, (c) => (LONE_SURROGATE.test(c) ? "%EF%BF%BD" : encodeURIComponent(c)));
}
