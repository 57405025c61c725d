/**
 * A @grpc/grpc-js client for protobuf-es schemas: the same kind of client a
 * polyglot service in the mesh would use, without a proto loader.
 */
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";

/** A raw grpc-js client for `address`. */
export function grpcClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function codec<D extends DescMessage>(desc: D) {
  return {
    serialize: (m: MessageShape<D>) => Buffer.from(toBinary(desc, m)),
    deserialize: (b: Buffer) => fromBinary(desc, b),
  };
}

/** Calls a unary method; rejects with the grpc-js ServiceError. */
export function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethod & { input: I; output: O },
  req: MessageShape<I>,
  options: grpc.CallOptions = {},
  metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  const i = codec(method.input as I);
  const o = codec(method.output as O);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path(method), i.serialize, o.deserialize, req, metadata, options, (err, res) => {
      if (err) reject(err);
      else resolve(res as MessageShape<O>);
    });
  });
}

/** Opens a server stream. */
export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethod & { input: I; output: O },
  req: MessageShape<I>,
  options: grpc.CallOptions = {},
): grpc.ClientReadableStream<MessageShape<O>> {
  const i = codec(method.input as I);
  const o = codec(method.output as O);
  return client.makeServerStreamRequest(path(method), i.serialize, o.deserialize, req, new grpc.Metadata(), options);
}

/** Opens a bidi stream. */
export function bidiStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethod & { input: I; output: O },
): grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
  const i = codec(method.input as I);
  const o = codec(method.output as O);
  return client.makeBidiStreamRequest(path(method), i.serialize, o.deserialize);
}

/** Reads a server stream to its end; rejects with the stream's error. */
export function readAll<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on("data", (m: T) => out.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(out));
  });
}
