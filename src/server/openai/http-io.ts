/**
 * The OpenAI API's HTTP edges: reading a request's JSON body within its
 * limits, and writing an answer or an error with the headers every answer
 * carries. handler.ts routes and converts; this file only reads and writes.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { GatewayError, invalidRequest, toGatewayError } from "../../errors.ts";
import { toOpenAIError } from "../../errors-openai.ts";
import { OPENAI_BODY_SHAPE } from "./decode.ts";
import { prescanJson } from "../json-prescan.ts";
import { PRESCAN_MIN_BYTES } from "../body-shape.ts";
import { readBody } from "../read-body.ts";
import { headerValue } from "../header-value.ts";

/** A request on either protocol. */
export type Req = IncomingMessage | Http2ServerRequest;
/** A response on either protocol. */
export type Res = ServerResponse | Http2ServerResponse;

/** The first value of a request header. */
export function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The headers kept when the full set cannot be written: the answer matters more than its annotations. */
const ESSENTIAL = new Set(["content-type", "content-length", "cache-control", "allow", "retry-after"]);

/**
 * Writes the status and headers at once (HTTP/1 and the HTTP/2 compat
 * response alike). A value Node refuses never turns an answer the caller
 * has paid for into a 500: it is written without the annotations instead.
 */
export function head(res: Res, status: number, headers: Record<string, string | number>): void {
  try {
    (res as ServerResponse).writeHead(status, headers);
  } catch (e) {
    if (res.headersSent) throw e;
    (res as ServerResponse).writeHead(status, Object.fromEntries(Object.entries(headers).filter(([k]) => ESSENTIAL.has(k))));
  }
}

/** Writes a JSON answer. */
export function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // writeHead with the headers at once skips setHeader's per-header map and
  // checks (headers set earlier, such as connection: close, are kept).
  head(res, status, { "content-type": "application/json", ...headers, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Writes an error as OpenAI's error JSON, with the retry and request headers the SDKs read. */
export function sendError(res: Res, e: unknown): void {
  const err = toGatewayError(e);
  const answer = toOpenAIError(err);
  const headers = {
    ...answer.headers,
    // Every answer names itself, errors before the engine gave an ID included.
    "x-request-id": err.id ? headerValue(err.id) : requestId(),
    // Detour already retried and fell back: the OpenAI SDKs read this and do
    // not run a second round of retries on top of the chain's.
    ...(err.attempts.length ? { "x-detour-attempts": String(err.attempts.length), "x-should-retry": "false" } : {}),
  };
  sendJson(res, answer.status, answer.body, headers);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads and parses the JSON body. A declared length over the limit is refused
 * before reading, as Connect does; a chunked body that passes it is refused
 * mid-read, and the connection closes, since the rest of it was never read.
 */
export async function readJsonBody(req: Req, res: Res, limit: number): Promise<unknown> {
  const tooLarge = () => new GatewayError("REQUEST_TOO_LARGE", `body: is over the limit of ${limit} bytes (server.max_request_bytes)`, { field: "body" });
  const encoding = header(req, "content-encoding");
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    throw invalidRequest("content-encoding", `"${encoding}" is not supported: send the body uncompressed`);
  }
  const declared = header(req, "content-length");
  if (Number(declared) > limit) throw tooLarge();
  let bytes: Buffer;
  if (declared !== undefined) {
    // The parser ends the body at its declared length: it cannot outgrow the limit mid-read.
    bytes = await readBody(req);
  } else {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > limit) {
        if (req.httpVersionMajor === 1) res.setHeader("connection", "close");
        throw tooLarge();
      }
      chunks.push(c);
    }
    bytes = Buffer.concat(chunks);
  }
  if (bytes.length === 0) throw invalidRequest("body", "is empty: send the chat request as a JSON object");
  // A list over its limit is refused before parsing builds it.
  const breach = bytes.length >= PRESCAN_MIN_BYTES ? prescanJson(bytes, OPENAI_BODY_SHAPE) : undefined;
  if (breach) throw invalidRequest(breach.field, breach.problem);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalidRequest("body", "is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRequest("body", "is not valid JSON");
  }
}

/** An ID for an answer the engine gives none: "req_" and 32 hex digits. */
export function requestId(): string {
  return `req_${randomBytes(16).toString("hex")}`;
}
