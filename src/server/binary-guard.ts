/**
 * Bytes that are not the method's protobuf message are the caller's error.
 * connect-es answers them with internal "parse binary: …" (HTTP 500 on the
 * Connect protocol) before any interceptor runs, so the router's handlers are
 * wrapped: a binary body is read (within the size limit), checked, and handed
 * on unchanged; one that does not parse is replaced by an empty message and
 * its problem travels in the context to `binaryProblemInterceptor`, which
 * throws invalid_argument naming it. connect-es then writes the error in the
 * caller's protocol (Connect, gRPC or gRPC-Web) as it writes any other.
 *
 * The same read checks the counts of limited repeated fields (messages,
 * tools, …) in binary and JSON bodies before any decode, so an oversized
 * list is refused for the cost of one scan (see body-shape.ts).
 */
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { createContextKey, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { toConnectError } from "../errors-connect.ts";
import { invalidRequest } from "../errors.ts";
import { shapeOf, type Shape } from "./body-shape.ts";
import { prescanJson, type Breach } from "./json-prescan.ts";
import { prescanProto } from "./proto-prescan.ts";
import { PRESCAN_MIN_BYTES } from "./body-shape.ts";

/** How a binary body carries its message, and which header names its compression. */
interface Framing {
  readonly enveloped: boolean;
  readonly encodingHeader: string;
  readonly json?: boolean;
}

const FRAMINGS: ReadonlyMap<string, Framing> = new Map([
  ["application/proto", { enveloped: false, encodingHeader: "content-encoding" }],
  ["application/connect+proto", { enveloped: true, encodingHeader: "connect-content-encoding" }],
  ["application/grpc", { enveloped: true, encodingHeader: "grpc-encoding" }],
  ["application/grpc+proto", { enveloped: true, encodingHeader: "grpc-encoding" }],
  ["application/grpc-web", { enveloped: true, encodingHeader: "grpc-encoding" }],
  ["application/grpc-web+proto", { enveloped: true, encodingHeader: "grpc-encoding" }],
  ["application/json", { enveloped: false, encodingHeader: "content-encoding", json: true }],
  ["application/connect+json", { enveloped: true, encodingHeader: "connect-content-encoding", json: true }],
  ["application/grpc+json", { enveloped: true, encodingHeader: "grpc-encoding", json: true }],
  ["application/grpc-web+json", { enveloped: true, encodingHeader: "grpc-encoding", json: true }],
]);

const shapes = new WeakMap<DescMessage, Shape | undefined>();
function shapeFor(schema: DescMessage): Shape | undefined {
  if (!shapes.has(schema)) shapes.set(schema, shapeOf(schema));
  return shapes.get(schema);
}

/** The smallest valid message in each framing, parsed in place of a refused body. */
const EMPTY_JSON = new TextEncoder().encode("{}");

const COMPRESSIONS = new Map([compressionGzip, compressionBrotli].map((c) => [c.name, c]));

const problemKey = createContextKey<Breach | undefined>(undefined, { description: "why the request body is refused" });

/**
 * Wraps the handlers of methods that take one request message (unary and
 * server-streaming; a client or bidi stream is read as it comes, so is left
 * to connect-es); call after registering the services.
 */
export function guardBinaryBodies(router: ConnectRouter, readMaxBytes: number): void {
  router.handlers.forEach((inner, i) => {
    if (inner.method.methodKind !== "unary" && inner.method.methodKind !== "server_streaming") return;
    router.handlers[i] = Object.assign((req: UniversalServerRequest) => guarded(inner, req, readMaxBytes), {
      requestPath: inner.requestPath,
      method: inner.method,
      service: inner.service,
      protocolNames: inner.protocolNames,
      allowedMethods: inner.allowedMethods,
      supportedContentType: inner.supportedContentType,
    }) satisfies UniversalHandler;
  });
}

/** Throws the problem a guarded handler found, as invalid_argument; runs before the other interceptors. */
export const binaryProblemInterceptor: Interceptor = (next) => (req) => {
  const problem = req.contextValues.get(problemKey);
  if (problem !== undefined) throw toConnectError(invalidRequest(problem.field, problem.problem));
  return next(req);
};

async function guarded(inner: UniversalHandler, req: UniversalServerRequest, readMaxBytes: number) {
  const framing = FRAMINGS.get(req.header.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "");
  const body = req.body;
  if (!framing || req.method !== "POST" || !isAsyncIterable(body)) return inner(req);
  // A declared length over the limit is refused by connect-es before any of it is read.
  if (Number(req.header.get("content-length")) > readMaxBytes) return inner(req);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const it = body[Symbol.asyncIterator]();
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      chunks.push(r.value);
      size += r.value.byteLength;
      // Over the limit: connect-es answers it (resource_exhausted) as before.
      if (size > readMaxBytes) return inner({ ...req, body: replay(chunks, it) });
    }
  } catch (e) {
    return inner({ ...req, body: replay(chunks, undefined, e) });
  }
  const bytes = concat(chunks, size);
  const problem = await check(bytes, framing, req, inner, readMaxBytes);
  if (problem === undefined) return inner({ ...req, body: replay([bytes]) });
  const header = new Headers(req.header);
  header.delete(framing.encodingHeader);
  header.delete("content-length");
  const contextValues = req.contextValues ?? createContextValues();
  contextValues.set(problemKey, problem);
  const empty = framing.json ? EMPTY_JSON : new Uint8Array(0);
  return inner({ ...req, header, contextValues, body: replay([framing.enveloped ? envelope(empty) : empty]) });
}

/**
 * Why `bytes` are not the method's input message, or undefined when they are
 * (or when connect-es has its own answer: bad framing, unknown compression).
 */
async function check(bytes: Uint8Array, framing: Framing, req: UniversalServerRequest, inner: UniversalHandler, readMaxBytes: number): Promise<Breach | undefined> {
  let message = bytes;
  let compressed = false;
  if (framing.enveloped) {
    if (bytes.byteLength < 5) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const length = view.getUint32(1);
    if (bytes.byteLength !== 5 + length) return undefined;
    compressed = ((bytes[0] ?? 0) & 1) === 1;
    message = bytes.subarray(5);
  } else {
    compressed = Boolean(req.header.get(framing.encodingHeader)) && req.header.get(framing.encodingHeader) !== "identity";
  }
  if (compressed) {
    const compression = COMPRESSIONS.get(req.header.get(framing.encodingHeader) ?? "");
    if (!compression) return undefined;
    try {
      message = await compression.decompress(message, readMaxBytes);
    } catch {
      return undefined;
    }
  }
  const schema = inner.method.input;
  // JSON is left to connect-es to parse once it passes the scan.
  const scan = message.length >= PRESCAN_MIN_BYTES;
  if (framing.json) return scan ? prescanJson(message, shapeFor(schema)) : undefined;
  const breach = scan ? prescanProto(message, shapeFor(schema)) : undefined;
  if (breach) return breach;
  try {
    fromBinary(schema, message);
    return undefined;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { field: "request", problem: `the body is not a ${schema.typeName} in protobuf binary (${why}); send the serialized message, or proto JSON with Content-Type application/json` };
  }
}

function envelope(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.byteLength);
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, 5);
  return out;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The chunks already read, then the rest of the body (or the error reading it). */
async function* replay(chunks: Uint8Array[], rest?: AsyncIterator<Uint8Array>, error?: unknown): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
  if (error !== undefined) throw error;
  if (rest) for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}
