/**
 * A minimal in-process OTLP/HTTP trace receiver: it accepts
 * ExportTraceServiceRequest protobuf bodies at /v1/traces and decodes the
 * fields a test checks (ids, parent, name, kind, attributes), straight from
 * the wire format with @bufbuild/protobuf's reader.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** A decoded span. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
}

function each(bytes: Uint8Array, fn: (field: number, r: BinaryReader, wire: WireType) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (!fn(field, r, wire)) r.skip(wire, field);
  }
}

function anyValue(bytes: Uint8Array): string | number | boolean {
  let v: string | number | boolean = "";
  each(bytes, (f, r) => {
    if (f === 1) v = r.string();
    else if (f === 2) v = r.bool();
    else if (f === 3) v = Number(r.int64());
    else if (f === 4) v = r.double();
    else return false;
    return true;
  });
  return v;
}

function span(bytes: Uint8Array): OtlpSpan {
  const s: OtlpSpan = { traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, attributes: {} };
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  each(bytes, (f, r) => {
    if (f === 1) s.traceId = hex(r.bytes());
    else if (f === 2) s.spanId = hex(r.bytes());
    else if (f === 4) s.parentSpanId = hex(r.bytes());
    else if (f === 5) s.name = r.string();
    else if (f === 6) s.kind = r.int32();
    else if (f === 9) {
      let key = "";
      let value: string | number | boolean = "";
      each(r.bytes(), (g, kr) => {
        if (g === 1) key = kr.string();
        else if (g === 2) value = anyValue(kr.bytes());
        else return false;
        return true;
      });
      s.attributes[key] = value;
    } else return false;
    return true;
  });
  return s;
}

/** Decodes ExportTraceServiceRequest → resource_spans(1) → scope_spans(2) → spans(2). */
export function decodeTraces(body: Uint8Array): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  each(body, (f, r) => {
    if (f !== 1) return false;
    each(r.bytes(), (g, rr) => {
      if (g !== 2) return false;
      each(rr.bytes(), (h, sr) => {
        if (h !== 2) return false;
        out.push(span(sr.bytes()));
        return true;
      });
      return true;
    });
    return true;
  });
  return out;
}

/** A running receiver. */
export interface OtlpReceiver {
  readonly url: string;
  readonly spans: OtlpSpan[];
  /** Resolves once at least `n` spans arrived. */
  waitFor(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts the receiver on 127.0.0.1:0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.url === "/v1/traces") {
      spans.push(...decodeTraces(Buffer.concat(chunks)));
      for (const w of waiters.filter((w) => spans.length >= w.n)) w.resolve();
    }
    res.writeHead(200, { "content-type": "application/x-protobuf" });
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    waitFor: (n) => (spans.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
