/**
 * The plumbing every vendor fake shares: an HTTP server on 127.0.0.1:0 that
 * records requests, answers from a queue of scripted replies, and can hang,
 * cut a stream or corrupt it. Each vendor file only renders replies in its
 * own wire format.
 */
import { once } from "node:events";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Token counts a reply reports. */
export interface FakeUsage {
  readonly input: number;
  readonly output: number;
  readonly cached?: number;
  readonly reasoning?: number;
}

/** A vendor-neutral scripted reply. */
export type FakeReply =
  | { kind: "text"; text: string; chunks?: string[]; finish?: "stop" | "length" | "content_filter"; usage?: FakeUsage }
  | { kind: "tool_calls"; calls: { id?: string; name: string; arguments: string; chunks?: string[] }[]; usage?: FakeUsage }
  | { kind: "error"; status: number; code?: string; message?: string; headers?: Record<string, string> }
  | { kind: "hang" }
  | { kind: "drop"; afterFrames: number; reply: FakeReply }
  | { kind: "malformed"; afterFrames: number; reply: FakeReply }
  /** A vendor error event inside a 200 stream (Anthropic's `event: error`). */
  | { kind: "stream_error"; afterFrames: number; code: string; reply: FakeReply }
  /** A prompt blocked by a safety filter (Gemini's promptFeedback). */
  | { kind: "blocked"; reason: string }
  /** An error answer with exactly this JSON body: for bodies no vendor should send (a key in every field). */
  | { kind: "raw_error"; status: number; body: unknown }
  /** The first frames of `reply`, then these SSE frames verbatim, then the end. */
  | { kind: "raw_frames"; afterFrames: number; frames: string[]; reply: FakeReply };

/** A request the fake received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Record<string, unknown>;
}

/** What a vendor renders for one reply. */
export type Rendered =
  | { kind: "json"; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: "sse"; frames: string[]; headers?: Record<string, string> }
  | { kind: "none" };

/** A vendor's wire format: decides streaming, renders replies. */
export interface WireFormat {
  /** Whether this request asked for a stream. */
  streaming(req: RecordedRequest): boolean;
  /** The reply as this vendor would send it. */
  render(req: RecordedRequest, reply: FakeReply, streaming: boolean): Rendered;
  /** A corrupt frame, for `malformed`. */
  readonly malformedFrame: string;
  /** Answers requests the scripts do not cover (e.g. GET /v1/models), or undefined. */
  route?(req: RecordedRequest): Rendered | undefined;
  /** The vendor's 400 for a request the real API refuses, or undefined; a refused request does not use up a scripted reply. */
  reject?(req: RecordedRequest): Rendered | undefined;
}

/** A running fake. */
export interface VendorFake {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Replies for the next requests, in order; then the default. */
  enqueue(...replies: FakeReply[]): void;
  /** The reply when the queue is empty. */
  setDefault(reply: FakeReply): void;
  /** Requests whose client went away before the answer ended. */
  aborted(): number;
  /** Resolves at the next client abort. */
  nextAbort(): Promise<void>;
  /** Resolves when the next request arrives. */
  nextRequest(): Promise<RecordedRequest>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { $raw: text };
  }
}

/** Starts a fake speaking `wire`. */
export async function startFake(wire: WireFormat): Promise<VendorFake> {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  let fallback: FakeReply = { kind: "text", text: "Hello from the fake." };
  let abortCount = 0;
  const abortWaiters: (() => void)[] = [];
  const requestWaiters: ((r: RecordedRequest) => void)[] = [];
  const sockets = new Set<import("node:net").Socket>();

  const onAbort = () => {
    abortCount++;
    abortWaiters.shift()?.();
  };

  const server = http.createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const recorded: RecordedRequest = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body: await readBody(req) };
    requests.push(recorded);
    requestWaiters.shift()?.(recorded);
    const routed = wire.route?.(recorded) ?? wire.reject?.(recorded);
    if (routed) return write(res, routed, undefined);
    const reply = queue.shift() ?? fallback;
    const streaming = wire.streaming(recorded);
    await play(res, reply, recorded, streaming);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  async function play(res: ServerResponse, reply: FakeReply, req: RecordedRequest, streaming: boolean): Promise<void> {
    if (reply.kind === "hang") {
      await once(res, "close");
      onAbort();
      return;
    }
    if (reply.kind === "raw_error") return write(res, { kind: "json", status: reply.status, body: reply.body }, undefined);
    if (reply.kind === "drop" || reply.kind === "malformed" || reply.kind === "stream_error" || reply.kind === "raw_frames") {
      const inner = wire.render(req, reply.reply, streaming);
      if (inner.kind !== "sse") return write(res, inner, undefined);
      const frames = inner.frames.slice(0, reply.afterFrames);
      if (reply.kind === "malformed") frames.push(wire.malformedFrame);
      if (reply.kind === "raw_frames") frames.push(...reply.frames);
      if (reply.kind === "stream_error") {
        const err = wire.render(req, { kind: "stream_error", afterFrames: 0, code: reply.code, reply: reply.reply }, true);
        if (err.kind === "sse") frames.push(...err.frames);
      }
      return write(res, { ...inner, frames }, reply.kind === "drop" ? "destroy" : "end");
    }
    return write(res, wire.render(req, reply, streaming), undefined);
  }

  async function write(res: ServerResponse, r: Rendered, ending: "destroy" | "end" | undefined): Promise<void> {
    if (r.kind === "none") return void res.end();
    if (r.kind === "json") {
      const text = JSON.stringify(r.body);
      res.writeHead(r.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...r.headers });
      return void res.end(text);
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...r.headers });
    res.flushHeaders();
    let closed = false;
    res.on("close", () => {
      if (!res.writableFinished) {
        closed = true;
        onAbort();
      }
    });
    for (const frame of r.frames) {
      if (closed) return;
      res.write(frame);
      // Yield between frames so a client sees them as separate reads.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (ending === "destroy") res.socket?.destroy();
    else res.end();
  }

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...r) => void queue.push(...r),
    setDefault: (r) => void (fallback = r),
    aborted: () => abortCount,
    nextAbort: () => new Promise((resolve) => abortWaiters.push(resolve)),
    nextRequest: () => new Promise((resolve) => requestWaiters.push(resolve)),
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

/** Splits text into word-sized chunks that concatenate back to it. */
export function words(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** Splits text into pieces of at most `n` characters. */
export function pieces(text: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += n) out.push(text.slice(i, i + n));
  return out.length > 0 ? out : [""];
}
