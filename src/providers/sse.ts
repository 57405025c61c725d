/**
 * The one Server-Sent Events parser every adapter shares, to the WHATWG
 * rules: CRLF, LF or CR line endings (a CR at a chunk's end and an LF at the
 * next one's start are one ending), a leading BOM dropped, comments, multi-line
 * data joined with "\n", id and retry fields, chunk boundaries anywhere
 * (multi-byte characters included). A stream that ends inside an event is
 * reported, never silently treated as complete.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The event type; "message" when the stream names none. */
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
  readonly retry: number | undefined;
}

/** The stream ended in the middle of an event. */
export class SseTruncatedError extends Error {
  override readonly name = "SseTruncatedError";
}

/** A line or event exceeded the parser's size limit. */
export class SseTooLargeError extends Error {
  override readonly name = "SseTooLargeError";
}

/** Parser options. */
export interface SseOptions {
  /** Called with each comment's text (the part after ":"). */
  onComment?: (text: string) => void;
  /** Largest line or event data, in characters. Default 8 MiB. */
  maxSize?: number;
}

/** A push parser: feed chunks, then end(). */
export interface SseParser {
  push(chunk: Uint8Array | string): void;
  /** Ends the stream; `truncated` when it stopped inside an event. */
  end(): { truncated: boolean };
}

/** Creates a push parser that calls `onEvent` for each dispatched event. */
export function createSseParser(onEvent: (e: SseEvent) => void, opts: SseOptions = {}): SseParser {
  const max = opts.maxSize ?? 8 * 1024 * 1024;
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  let first = true;
  let skipLf = false;
  let data: string[] = [];
  let dataSize = 0;
  let type = "";
  let lastId: string | undefined;
  let retry: number | undefined;
  let inEvent = false;

  const line = (l: string) => {
    if (l === "") {
      if (data.length > 0) {
        onEvent({ event: type || "message", data: data.join("\n"), id: lastId, retry });
      }
      data = [];
      dataSize = 0;
      type = "";
      retry = undefined;
      inEvent = false;
      return;
    }
    const colon = l.indexOf(":");
    if (colon === 0) {
      opts.onComment?.(l.slice(1).replace(/^ /, ""));
      return;
    }
    inEvent = true;
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        dataSize += value.length + 1;
        if (dataSize > max) throw new SseTooLargeError(`an event's data is over ${max} characters`);
        data.push(value);
        break;
      case "event":
        type = value;
        break;
      case "id":
        if (!value.includes("\0")) lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) retry = Number(value);
        break;
      default:
        break;
    }
  };

  const feed = (text: string) => {
    let start = 0;
    if (skipLf && text.startsWith("\n")) start = 1;
    skipLf = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const piece = text.slice(start, i);
      line(pending === "" ? piece : pending + piece);
      pending = "";
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else skipLf = true;
      }
      start = i + 1;
    }
    if (start < text.length) {
      pending += text.slice(start);
      if (pending.length > max) throw new SseTooLargeError(`a line is over ${max} characters`);
    }
  };

  return {
    push(chunk) {
      let text = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      if (first && text.length > 0) {
        first = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      feed(text);
    },
    end() {
      const rest = decoder.decode();
      if (rest) feed(rest);
      return { truncated: pending !== "" || inEvent };
    },
  };
}

/**
 * Yields the events of an SSE body. A body that ends cleanly between events
 * returns; one that ends inside an event throws SseTruncatedError.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array | string>, opts: SseOptions = {}): AsyncGenerator<SseEvent> {
  const ready: SseEvent[] = [];
  const parser = createSseParser((e) => ready.push(e), opts);
  for await (const chunk of body) {
    parser.push(chunk);
    while (ready.length > 0) yield ready.shift() as SseEvent;
  }
  const { truncated } = parser.end();
  while (ready.length > 0) yield ready.shift() as SseEvent;
  if (truncated) throw new SseTruncatedError("the stream ended in the middle of an event");
}
