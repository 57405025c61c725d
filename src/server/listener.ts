/**
 * One plaintext port for everything: gRPC and Connect over h2c, and HTTP/1.1
 * for the OpenAI-compatible API and Connect/gRPC-Web from browsers. Each new
 * connection's first bytes are sniffed: the HTTP/2 client preface starts with
 * "PRI", which no HTTP/1.1 request does.
 *
 * Every connection is timed, since a client that trickles bytes must not
 * hold a socket: its first bytes and its headers within `headerTimeoutMs`,
 * a whole request within `requestTimeoutMs`, and idle connections close
 * after `idleTimeoutMs`. Beyond `maxConnections`, new ones close at once.
 *
 * Drain: stop accepting, send GOAWAY to HTTP/2 sessions and close idle
 * HTTP/1.1 connections, let in-flight calls finish, and destroy whatever is
 * left when the timeout passes.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import type { ServerConfig } from "../../gen/detour/v1/config_pb.js";
import { durationOr } from "../config/duration.ts";
import { settledWithin } from "../settled-within.ts";
import { timeH2Session } from "./h2-timeouts.ts";

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
  /** Most client connections open at once; more are closed on arrival. */
  maxConnections?: number;
  /** Time for a connection's first bytes, and for each request's headers. */
  headerTimeoutMs?: number;
  /** Time to receive a whole request, body included (not its answer). */
  requestTimeoutMs?: number;
  /** Idle time: HTTP/1.1 keep-alive, an HTTP/2 session with no stream. */
  idleTimeoutMs?: number;
}

/** The listener's limits when the config leaves them unset. */
export const LISTENER_DEFAULTS = {
  maxConnections: 16_384,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 65_000,
} as const;

/** The listener's limits from the server config; unset fields take the defaults. */
export function listenerOptions(server: ServerConfig | undefined): ListenerOptions {
  const d = LISTENER_DEFAULTS;
  return {
    maxConnections: server?.maxConnections || d.maxConnections,
    headerTimeoutMs: durationOr(server?.headerTimeout ?? "", d.headerTimeoutMs),
    requestTimeoutMs: durationOr(server?.requestTimeout ?? "", d.requestTimeoutMs),
    idleTimeoutMs: durationOr(server?.idleTimeout ?? "", d.idleTimeoutMs),
  };
}

const PREFACE = Buffer.from("PRI");

/** Creates the dual-protocol listener around one handler. */
export function createListener(handler: NodeHandler, opts: ListenerOptions = {}): Listener {
  const limits = { ...LISTENER_DEFAULTS, ...opts };
  const h1 = http.createServer(
    {
      keepAliveTimeout: limits.idleTimeoutMs,
      headersTimeout: limits.headerTimeoutMs,
      // Node requires requestTimeout >= headersTimeout (or 0).
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headerTimeoutMs),
      // The sweep that enforces both; its default (30 s) would let a 10 s
      // header timeout stretch to 40 s.
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headerTimeoutMs / 4))),
    },
    handler,
  );
  // Sockets reach h1 by emit("connection"), never through its own listen(),
  // and Node starts the header/request timeout sweep on "listening": without
  // this, a half-sent request line would hold its socket forever.
  h1.emit("listening");
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
    timeH2Session(s, limits);
    if (isDraining) s.close();
  });

  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // A client that never sends its first bytes must not pin a socket; from
    // the sniff on, h1's sweep and the h2 session timers take over.
    const first = setTimeout(() => socket.destroy(), limits.headerTimeoutMs);
    socket.once("close", () => clearTimeout(first));
    sniff(socket, (isH2) => {
      clearTimeout(first);
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

  // net drops connections beyond the cap as they arrive, before any read.
  tcp.maxConnections = limits.maxConnections;

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
      // Stops h1's timeout sweep; h1 never listened, so its own close errors.
      h1.close(() => {});
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
