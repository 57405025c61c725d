/**
 * One upstream call on undici's dispatch API: the handler undici calls as
 * the answer arrives, and the response the adapter reads. `undici.request`
 * would wrap every answer in a Readable stream, an async resource, an abort
 * listener and a promise per chunk read; on this machine that was ~20 µs of
 * CPU per call, a tenth of all Detour spent on a unary completion. Here the
 * chunks go straight to whoever reads: a whole text (a JSON answer) or an
 * iterator (an event stream), with backpressure by pausing the socket.
 */
import type { Dispatcher } from "undici";

/** An upstream response whose body has not been read yet (http.ts's UpstreamResponse). */
export interface DispatchedResponse {
  readonly status: number;
  /** Lower-case names; a repeated header is an array. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body as it arrives, each read all that arrived since the last; stopping early reads the rest off in the background. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Reads the body to its end as text, keeping at most `limit` bytes of it. */
  text(limit?: number): Promise<string>;
}

/** Bytes held for a reader that is behind before the socket is paused. */
const HIGH_WATER = 64 * 1024;
/** What is read off after a reader stopped early, so the connection can be reused. */
const DRAIN_BYTES = 64 * 1024;
const DRAIN_MS = 1_000;

const utf8 = new TextDecoder();

type Mode = "hold" | "text" | "drain";

/**
 * The handler and the response of one call. `head` settles when the status
 * and headers arrive (or the call fails first); the body is read once, as
 * text or by iterating.
 */
export class DispatchedCall implements Dispatcher.DispatchHandler, DispatchedResponse, AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  status = 0;
  headers: Readonly<Record<string, string | string[] | undefined>> = {};
  readonly head: Promise<DispatchedCall>;
  #resolveHead!: (r: DispatchedCall) => void;
  #rejectHead!: (e: unknown) => void;
  #started = false;
  #controller: Dispatcher.DispatchController | undefined;
  #reason: Error | undefined;
  readonly #signal: AbortSignal;
  readonly #onAbort = () => this.#abort((this.#signal.reason as Error | undefined) ?? new Error("aborted"));

  #mode: Mode = "hold";
  #chunks: Buffer[] = [];
  /** Bytes in #chunks (hold), or seen so far (text, drain). */
  #size = 0;
  /** text(): the keep limit, the bytes kept, and the reader. */
  #limit = Infinity;
  #kept = 0;
  #text: { resolve: (s: string) => void; reject: (e: unknown) => void } | undefined;
  #ended = false;
  #error: unknown = undefined;
  /** An iterator's pending next(). */
  #wake: (() => void) | undefined;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    this.head = new Promise((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    // A call that fails before anyone awaits its head (dispatch() throwing on
    // a closed client, say) must not become an unhandled rejection, which
    // would end the process; awaiting `head` still sees the error.
    this.head.catch(() => undefined);
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  get body(): AsyncIterable<Uint8Array> {
    return this;
  }

  // --- undici's side ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#reason) endCall(controller, this.#reason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (status < 200) return;
    this.status = status;
    this.headers = headers;
    this.#started = true;
    this.#resolveHead(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#error !== undefined) return;
    this.#size += chunk.length;
    if (this.#mode === "text") {
      if (this.#size <= this.#limit) {
        this.#chunks.push(chunk);
        this.#kept = this.#size;
      }
    } else if (this.#mode === "drain") {
      if (this.#size > DRAIN_BYTES) endCall(controller, new Error("the unread rest of the body is too long to read off"));
    } else {
      this.#chunks.push(chunk);
      if (this.#size >= HIGH_WATER) controller.pause();
      this.#wakeReader();
    }
  }

  onResponseEnd(): void {
    if (this.#error !== undefined) return;
    this.#ended = true;
    this.#done();
    if (this.#text) this.#text.resolve(utf8.decode(this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#kept)));
    this.#wakeReader();
  }

  onResponseError(_c: Dispatcher.DispatchController | null, error: Error): void {
    this.#fail(error);
  }

  // --- the reader's side ---

  /** Reads the body to its end; keeps its first `limit` bytes (whole chunks) and drops the rest. */
  text(limit = 64 * 1024): Promise<string> {
    if (this.#error !== undefined) return Promise.reject(this.#error as Error);
    const held = this.#chunks;
    this.#mode = "text";
    this.#limit = limit;
    this.#chunks = [];
    this.#size = 0;
    for (const c of held) {
      this.#size += c.length;
      if (this.#size > limit) break;
      this.#chunks.push(c);
      this.#kept = this.#size;
    }
    if (this.#ended) return Promise.resolve(utf8.decode(this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#kept)));
    this.#controller?.resume();
    return new Promise((resolve, reject) => (this.#text = { resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const n = this.#chunks.length;
      if (n > 0) {
        // Everything that arrived since the last read, in one piece: the
        // events of a burst (an HTTP chunk each, as vendors send them) are
        // then decoded, parsed and handed on as one batch, not one turn of
        // every layer per event.
        const chunk = n === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#size);
        this.#chunks.length = 0;
        this.#size = 0;
        if (this.#controller?.paused) this.#controller.resume();
        return { value: chunk, done: false };
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /**
   * The reader stopped early (an SSE stream read up to "[DONE]", say): the
   * rest is read off, a little and briefly, so the connection returns to
   * the pool; more than that and it is closed. Aborting at once instead would
   * close a connection that is about to be free.
   */
  async return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#ended && this.#error === undefined && this.#mode === "hold") {
      this.#mode = "drain";
      this.#size = 0;
      this.#chunks = [];
      this.#drainTimer = setTimeout(() => this.#controller && endCall(this.#controller, new Error("the unread rest of the body did not end in time")), DRAIN_MS);
      this.#drainTimer.unref();
      this.#controller?.resume();
    }
    return { value: undefined, done: true };
  }

  // --- both ---

  #abort(reason: Error): void {
    this.#reason ??= reason;
    this.#fail(reason);
    // Nothing held is read after an abort.
    this.#chunks = [];
    // The reader hears at once; the call itself is ended a millisecond
    // later, after what the caller does next (a fallback hop's request, when
    // a latency threshold passed) has gone out: undici closes the socket of
    // a call in flight there and then, 0.3 ms here. (On the next turn of the
    // loop instead, the close still came before that request was written.)
    if (this.#controller) setTimeout(endCall, 1, this.#controller, reason);
  }

  #fail(error: unknown): void {
    if (this.#error !== undefined || this.#ended) return;
    // What arrived before an upstream error is still read, then the error.
    this.#error = error;
    this.#done();
    if (!this.#started) this.#rejectHead(error);
    this.#text?.reject(error);
    this.#wakeReader();
  }

  #done(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * Ends a call through undici with stack traces off: for a socket closed on
 * purpose it builds an error of its own, and Node formats that error's stack
 * as it destroys the socket — ~0.15 ms per abort here, for a trace nobody
 * reads (the reader gets `reason`).
 */
function endCall(controller: Dispatcher.DispatchController, reason: Error): void {
  if (controller.aborted) return;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    controller.abort(reason);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
