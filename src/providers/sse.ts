/**
 * The one Server-Sent Events parser every adapter shares, to the WHATWG HTML
 * rules: CRLF, LF or CR line endings (a CR ending one chunk and an LF starting
 * the next are one ending), one leading BOM dropped, comments, multi-line data
 * joined with "\n", sticky id and retry, chunk boundaries anywhere (inside
 * multi-byte characters too). A stream that ends inside an event is reported,
 * never passed off as complete, and a hostile upstream cannot make it buffer
 * without bound.
 */

/** One dispatched event, shaped so adapters never see wire syntax. */
export interface SseEvent {
  /** The event type; "message" when the stream names none, as the spec says. */
  readonly event: string;
  /** The data lines joined with "\n"; never contains CR. */
  readonly data: string;
  /** The last event ID the stream set (it persists across events), if any. */
  readonly id: string | undefined;
  /** The last reconnection time in ms the stream set (it persists too), if any. */
  readonly retry: number | undefined;
}

/** Thrown by parseSse when the body ends inside an event, so adapters report STREAM_DROPPED instead of a short answer. */
export class SseTruncatedError extends Error {
  override readonly name = "SseTruncatedError";
}

/** Thrown when a line or an event's data passes `maxSize`, so a hostile upstream cannot exhaust memory. */
export class SseTooLargeError extends Error {
  override readonly name = "SseTooLargeError";
}

/** Options shared by createSseParser and parseSse; all optional so adapters pass none. */
export interface SseOptions {
  /** Called with each comment's text (after ":" and one optional space); Detour reads keep-alives here. */
  readonly onComment?: ((text: string) => void) | undefined;
  /** Largest line, and largest event data, in UTF-16 code units. Default 8 MiB. */
  readonly maxSize?: number | undefined;
}

/** The result of ending a stream: whether it stopped inside an event. */
export interface SseEnd {
  /** True when an event had begun (any field line, or an unfinished non-comment line) and was never terminated by a blank line. */
  readonly truncated: boolean;
}

/** A push parser, so callers that already own a read loop need no async iteration. */
export interface SseParser {
  /** Feeds the next chunk; events are delivered synchronously. A string chunk first ends any character left partial by byte chunks. */
  push(chunk: Uint8Array | string): void;
  /** Ends the stream. The incomplete event, if any, is discarded per spec but reported. */
  end(): SseEnd;
}

/** 8 MiB: far above any real LLM event, far below what would hurt the process. */
const DEFAULT_MAX_SIZE = 8 * 1024 * 1024;
const LF = 10;
const CR = 13;
const SPACE = 32;
const COLON = 58;
const BOM = 0xfeff;

/**
 * Creates a push parser that calls `onEvent` for each dispatched event.
 * After it throws (too large, or `onEvent` threw) the parser must be discarded.
 */
export function createSseParser(onEvent: (e: SseEvent) => void, opts: SseOptions = {}): SseParser {
  const max = opts.maxSize ?? DEFAULT_MAX_SIZE;
  if (!(Number.isSafeInteger(max) && max > 0)) throw new RangeError(`maxSize must be a positive integer, got ${max}`);
  const onComment = opts.onComment;
  // ignoreBOM: the spec drops one BOM at the start of the stream, which is
  // not necessarily where the decoder starts if string chunks came first.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  let atStart = true;
  let ended = false;
  let skipLf = false;
  // An unfinished line, kept as pieces so a line arriving in many small
  // chunks costs one join, not a copy per chunk.
  const partial: string[] = [];
  let partialLen = 0;
  // The event being built: first data line, then the rest, so the usual
  // single-line event needs no array work.
  let dataLines = 0;
  let firstData = "";
  const moreData: string[] = [];
  let dataLen = 0;
  let type = "";
  let inEvent = false;
  let lastId: string | undefined;
  let retry: number | undefined;

  const dispatch = (): void => {
    inEvent = false;
    if (dataLines === 0) {
      type = "";
      return;
    }
    const data = dataLines === 1 ? firstData : firstData + "\n" + moreData.join("\n");
    const event = type === "" ? "message" : type;
    dataLines = 0;
    firstData = "";
    moreData.length = 0;
    dataLen = 0;
    type = "";
    onEvent({ event, data, id: lastId, retry });
  };

  const appendData = (value: string): void => {
    dataLen += dataLines === 0 ? value.length : value.length + 1;
    if (dataLen > max) throw new SseTooLargeError(`an SSE event's data is over ${max} characters`);
    if (dataLines === 0) firstData = value;
    else moreData.push(value);
    dataLines++;
  };

  const setRetry = (s: string, from: number, to: number): void => {
    if (from === to) return;
    for (let k = from; k < to; k++) {
      const c = s.charCodeAt(k);
      if (c < 48 || c > 57) return;
    }
    const ms = Number(s.slice(from, to));
    // Digits only, but a hostile 400-digit value would be Infinity.
    if (Number.isSafeInteger(ms)) retry = ms;
  };

  /** Handles the line s[start, end), without its terminator. */
  const line = (s: string, start: number, end: number): void => {
    if (end - start > max) throw new SseTooLargeError(`an SSE line is over ${max} characters`);
    if (start === end) return dispatch();
    // A bounded scan, not indexOf: indexOf would run past `end` through the
    // rest of the chunk and make many colon-less lines quadratic.
    let colon = -1;
    for (let k = start; k < end; k++) {
      if (s.charCodeAt(k) === COLON) {
        colon = k;
        break;
      }
    }
    if (colon === start) {
      if (onComment) onComment(s.slice(start + 1 < end && s.charCodeAt(start + 1) === SPACE ? start + 2 : start + 1, end));
      return;
    }
    inEvent = true;
    const nameEnd = colon === -1 ? end : colon;
    let v = colon === -1 ? end : colon + 1;
    if (v < end && s.charCodeAt(v) === SPACE) v++;
    // Switch on the name's length so known fields are matched without
    // allocating the name.
    switch (nameEnd - start) {
      case 4:
        if (s.startsWith("data", start)) appendData(s.slice(v, end));
        break;
      case 5:
        if (s.startsWith("event", start)) type = s.slice(v, end);
        else if (s.startsWith("retry", start)) setRetry(s, v, end);
        break;
      case 2:
        if (s.startsWith("id", start)) {
          const id = s.slice(v, end);
          if (!id.includes("\0")) lastId = id;
        }
        break;
      default:
        break;
    }
  };

  const feed = (text: string): void => {
    const n = text.length;
    if (n === 0) return;
    let i = 0;
    if (atStart) {
      atStart = false;
      if (text.charCodeAt(0) === BOM) i = 1;
    }
    if (skipLf) {
      skipLf = false;
      if (i < n && text.charCodeAt(i) === LF) i++;
    }
    let cr = text.indexOf("\r", i);
    let lf = text.indexOf("\n", i);
    while (cr !== -1 || lf !== -1) {
      const eol = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      if (partial.length === 0) line(text, i, eol);
      else {
        partial.push(text.slice(i, eol));
        const joined = partial.join("");
        partial.length = 0;
        partialLen = 0;
        line(joined, 0, joined.length);
      }
      let next = eol + 1;
      if (text.charCodeAt(eol) === CR) {
        if (next === n) skipLf = true;
        else if (text.charCodeAt(next) === LF) next++;
      }
      if (cr !== -1 && cr < next) cr = text.indexOf("\r", next);
      if (lf !== -1 && lf < next) lf = text.indexOf("\n", next);
      i = next;
    }
    if (i < n) {
      partialLen += n - i;
      if (partialLen > max) throw new SseTooLargeError(`an SSE line is over ${max} characters`);
      partial.push(i === 0 ? text : text.slice(i));
    }
  };

  return {
    push(chunk) {
      if (ended) throw new Error("SSE parser: push() after end()");
      if (typeof chunk === "string") {
        feed(decoder.decode());
        feed(chunk);
      } else feed(decoder.decode(chunk, { stream: true }));
    },
    end() {
      if (ended) throw new Error("SSE parser: end() called twice");
      // A character cut short decodes to U+FFFD and so counts as a cut line.
      feed(decoder.decode());
      ended = true;
      const cutLine = partial.length > 0 && partial[0]?.charCodeAt(0) !== COLON;
      return { truncated: inEvent || cutLine };
    },
  };
}

/**
 * Yields the events of an SSE body, a batch per body chunk (the events it
 * completed), so that a consumer walks a burst of events in one turn instead
 * of one promise per event. A body that ends cleanly between events returns;
 * one that ends inside an event throws SseTruncatedError. Events complete
 * before a failure are always yielded before the error is thrown.
 */
export async function* parseSseBatches(
  body: AsyncIterable<Uint8Array | string>,
  opts: SseOptions = {},
  /** Turns whatever ends the stream badly (the body's error, a cut, a line too long) into the error thrown. */
  mapError: (e: unknown) => unknown = (e) => e,
): AsyncGenerator<SseEvent[], void, undefined> {
  let ready: SseEvent[] = [];
  const parser = createSseParser((e) => void ready.push(e), opts);
  const take = () => {
    const out = ready;
    ready = [];
    return out;
  };
  try {
    for await (const chunk of body) {
      try {
        parser.push(chunk);
      } catch (e) {
        if (ready.length > 0) yield take();
        throw e;
      }
      if (ready.length > 0) yield take();
    }
    const { truncated } = parser.end();
    if (ready.length > 0) yield take();
    if (truncated) throw new SseTruncatedError("the SSE stream ended in the middle of an event");
  } catch (e) {
    throw mapError(e);
  }
}

/** The events of an SSE body one by one; see parseSseBatches. */
export async function* parseSse(body: AsyncIterable<Uint8Array | string>, opts: SseOptions = {}): AsyncGenerator<SseEvent, void, undefined> {
  for await (const batch of parseSseBatches(body, opts)) for (const ev of batch) yield ev;
}
