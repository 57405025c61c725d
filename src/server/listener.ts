/**
 * One plaintext port for everything: gRPC and Connect over h2c, and HTTP/1.1
 * for the OpenAI-compatible API and Connect/gRPC-Web from browsers. Each new
 * connection's first bytes are sniffed: the HTTP/2 client preface starts with
 * "PRI", which no HTTP/1.1 request does.
 *
 * Drain: stop accepting, send GOAWAY to HTTP/2 sessions and close idle
 * HTTP/1.1 connections, let in-flight calls finish, and destroy whatever is
 * left when the timeout passes.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import { settledWithin } from "../settled-within.ts";

/** A request handler that serves both protocols. */
export type NodeHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

/** The listener's controls. */
export interface Listener {
  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** True once drain has started. */
  draining(): boolean;
  /** Stops accepting and waits for in-flight calls, at most `timeoutMs`. */
  drain(timeoutMs: number): Promise<{ forced: number }>;
}

/** Limits of the listener. */
export interface ListenerOptions {
  /** Idle keep-alive time for HTTP/1.1 connections. */
  keepAliveTimeoutMs?: number;
  /** Longest time to receive a whole HTTP/1.1 request head and body. */
  requestTimeoutMs?: number;
}

const PREFACE = Buffer.from("PRI");
const SNIFF_TIMEOUT_MS = 30_000;

/** Creates the dual-protocol listener around one handler. */
export function createListener(handler: NodeHandler, opts: ListenerOptions = {}): Listener {
  const h1 = http.createServer({ keepAliveTimeout: opts.keepAliveTimeoutMs ?? 65_000, requestTimeout: opts.requestTimeoutMs ?? 300_000 }, handler);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, handler);
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  // http.Server tracks idle connections only for sockets it accepted itself,
  // so HTTP/1.1 keep-alive idleness is tracked here.
  const h1Sockets = new Set<Socket>();
  const busy = new Set<Socket>();
  let isDraining = false;
  const closeIdle = () => {
    for (const s of h1Sockets) if (!busy.has(s)) s.destroy();
  };
  h1.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    busy.add(socket);
    res.on("close", () => {
      busy.delete(socket);
      if (isDraining) setImmediate(closeIdle);
    });
  });

  h2.on("session", (s: Http2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    if (isDraining) s.close();
  });

  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // A client that never sends its first bytes must not pin a socket forever.
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    sniff(socket, (isH2) => {
      socket.setTimeout(0);
      if (!isH2) {
        h1Sockets.add(socket);
        socket.on("close", () => {
          h1Sockets.delete(socket);
          busy.delete(socket);
        });
      }
      (isH2 ? h2 : h1).emit("connection", socket);
    });
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve(tcp.address() as AddressInfo);
        });
      });
    },
    draining: () => isDraining,
    async drain(timeoutMs) {
      isDraining = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const s of sessions) s.close();
      closeIdle();
      // HTTP/1.1 connections with a call in flight close when it ends: the
      // handler sets "Connection: close" once draining (see http-routes.ts).
      const idle = allClosed(sockets);
      let forced = 0;
      if (!(await settledWithin(Promise.all([closed, idle]), timeoutMs))) {
        forced = sockets.size;
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
        await closed;
      }
      return { forced };
    },
  };
}

/** Resolves when every socket has closed. */
function allClosed(sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (sockets.size === 0) {
        clearInterval(poll);
        resolve();
      }
    };
    const poll = setInterval(check, 25);
    check();
  });
}

/** Reads just enough of the first bytes to tell HTTP/2 from HTTP/1.1. */
function sniff(socket: Socket, route: (isH2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isH2 && seen.length < PREFACE.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    route(isH2);
    process.nextTick(() => socket.resume());
  };
  socket.on("data", onData);
}
