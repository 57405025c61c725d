/**
 * A fast path for the events that make up almost all of a stream: a text
 * delta, the same JSON around a different string each time. Once a decoder
 * has parsed one such event in full, the text before and after the string's
 * literal is kept; a later event that starts and ends with exactly that text
 * differs from it only in the literal — one JSON token, whose place in the
 * structure the surrounding text fixes — so only the literal is parsed.
 *
 * The slot is checked when it is learnt: the same frame around another
 * string must parse, by the vendor's own reading, to that string. A frame
 * that does not recur (a vendor's per-chunk padding field, say) is learnt
 * again at most a few times, then no more: a miss costs two string
 * comparisons.
 */

/** How many times a stream's frame is learnt before the fast path gives up on it. */
const MAX_LEARNT = 3;
const PROBE = '"\\u0000detour"';
const PROBE_TEXT = "\u0000detour";

export class TextSlot {
  #before = "";
  #after = "";
  #learnt = 0;
  /** The text of a plain text-delta event, parsed in full; undefined if `data` is not one. */
  readonly #read: (data: string) => string | undefined;

  constructor(read: (data: string) => string | undefined) {
    this.#read = read;
  }

  /** The event's text when `data` is the learnt frame around a string literal; undefined otherwise. */
  match(data: string): string | undefined {
    const before = this.#before;
    if (before === "") return undefined;
    const after = this.#after;
    const end = data.length - after.length;
    if (end <= before.length || data.charCodeAt(before.length) !== QUOTE || data.charCodeAt(end - 1) !== QUOTE) return undefined;
    if (!data.startsWith(before) || !data.endsWith(after)) return undefined;
    try {
      // One literal or nothing: `"a","b":"c"` between the two is a parse error.
      const text: unknown = JSON.parse(data.slice(before.length, end));
      return typeof text === "string" ? text : undefined;
    } catch {
      return undefined;
    }
  }

  /** After a full parse of `data` that found a plain text delta `text`: keeps its frame, if it is one. */
  learn(data: string, text: string): void {
    if (this.#learnt >= MAX_LEARNT) return;
    this.#learnt++;
    this.#before = "";
    const literal = JSON.stringify(text);
    const at = data.indexOf(literal);
    // Absent (the vendor escapes differently) or there twice: no way to tell which is the text.
    if (at <= 0 || data.indexOf(literal, at + 1) !== -1) return;
    const before = data.slice(0, at);
    const after = data.slice(at + literal.length);
    if (this.#read(before + PROBE + after) !== PROBE_TEXT) return;
    this.#before = before;
    this.#after = after;
  }
}

const QUOTE = 0x22;
