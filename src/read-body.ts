/**
 * Reads a whole HTTP body (a client's request, an upstream's answer) on
 * events. A stream iterator (`for await`) costs an async generator, an
 * end-of-stream watcher and a promise per chunk on every request; this costs
 * four listeners.
 */
import type { Readable } from "node:stream";

/**
 * Reads `body` to its end and resolves with its first `keep` bytes (whole
 * chunks: the first chunk that would pass `keep` and all after it are read
 * and dropped). Rejects with the stream's error, or with a premature close
 * when it closes before its end.
 */
export function readBody(body: Readable, keep = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (body.readableEnded) return resolve(Buffer.alloc(0));
    if (body.destroyed) return reject(body.errored ?? prematureClose());
    const chunks: Buffer[] = [];
    let size = 0;
    let kept = 0;
    const off = () => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > keep) return;
      chunks.push(c);
      kept = size;
    };
    const onEnd = () => {
      off();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, kept));
    };
    const onError = (e: Error) => {
      off();
      reject(e);
    };
    const onClose = () => {
      off();
      reject(body.errored ?? prematureClose());
    };
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onError);
    body.on("close", onClose);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error("the body closed before its end"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}
