/**
 * Reads a client's whole request body on events. A stream iterator
 * (`for await`) costs an async generator, an end-of-stream watcher and a
 * promise per chunk on every request; this costs four listeners. (Upstream
 * answers do not come through here: providers/dispatched.ts takes their
 * chunks from undici directly.)
 */
import type { Readable } from "node:stream";

/**
 * Reads `body` to its end. Rejects with the stream's error, or with a
 * premature close when it closes before its end.
 */
export function readBody(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (body.readableEnded) return resolve(Buffer.alloc(0));
    if (body.destroyed) return reject(body.errored ?? prematureClose());
    const chunks: Buffer[] = [];
    let size = 0;
    const off = () => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    };
    const onEnd = () => {
      off();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
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
