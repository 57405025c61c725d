/**
 * Timeouts for HTTP/2 sessions. Node's own http2 session timeout counts any
 * frame as activity and cannot tell an idle session from a quiet stream, so
 * a session is timed here by its open streams: with none it may stay for
 * `idleTimeoutMs`, and each stream's request (headers, then body) must
 * arrive within `requestTimeoutMs`. A response may then stream for as long
 * as it needs.
 */
import http2, { type Http2Session, type ServerHttp2Stream } from "node:http2";

/** Limits for one HTTP/2 session. */
export interface H2Timeouts {
  /** How long a session with no open stream stays before GOAWAY. */
  readonly idleTimeoutMs: number;
  /** Longest time for a stream's request body to arrive in full. */
  readonly requestTimeoutMs: number;
}

/** Applies the idle and request timeouts to a new session. */
export function timeH2Session(session: Http2Session, t: H2Timeouts): void {
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    // GOAWAY, not destroy: a stream the client opens meanwhile is refused
    // cleanly and retried on a new connection.
    idle = setTimeout(() => session.close(), t.idleTimeoutMs);
    idle.unref();
  };
  arm();
  session.on("stream", (stream: ServerHttp2Stream) => {
    open++;
    clearTimeout(idle);
    // A request still arriving past its deadline is cancelled; nothing is
    // timed once the body is in, so a gRPC stream may answer for hours.
    const body = stream.readableEnded
      ? undefined
      : setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), t.requestTimeoutMs).unref();
    const bodyIn = () => clearTimeout(body);
    stream.once("end", bodyIn);
    stream.once("close", () => {
      bodyIn();
      open--;
      if (open === 0 && !session.closed && !session.destroyed) arm();
    });
  });
  session.once("close", () => clearTimeout(idle));
}
