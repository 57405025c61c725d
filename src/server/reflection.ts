/**
 * grpc.reflection.v1 as an ordinary Connect service, answered from the
 * descriptors compiled into gen/, so grpcurl, `buf curl` and Postman can call
 * Detour without a copy of the proto.
 */
import { create, createRegistry, toBinary, type DescFile, type DescService, type MessageInitShape, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** A response without its type: v1 and v1alpha share every field. */
type Answer = Omit<MessageInitShape<typeof ServerReflectionResponseSchema>, "originalRequest" | "$typeName">;

/** The v1 service, and v1alpha for older grpcurl and Postman versions. */
export interface ReflectionServices {
  readonly v1: ServiceImpl<typeof ServerReflection>;
  readonly v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
}

/** Reflection implementations for the given services. */
export function reflectionServices(services: readonly DescService[]): ReflectionServices {
  const files = new Map<string, DescFile>();
  const collect = (f: DescFile) => {
    // DescFile.name drops ".proto"; reflection clients ask by the full name.
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    f.dependencies.forEach(collect);
  };
  for (const s of services) collect(s.file);
  collect(ServerReflection.file);
  collect(v1alpha.ServerReflection.file);
  const index: Index = { registry: createRegistry(...files.values()), files };
  const names = [...services.map((s) => s.typeName), ServerReflection.typeName, v1alpha.ServerReflection.typeName];
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          yield create(ServerReflectionResponseSchema, { ...answer(index, names, req), originalRequest: req });
        }
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          // The two versions' messages differ only in their type names.
          const init = answer(index, names, req as unknown as ServerReflectionRequest) as unknown as MessageInitShape<
            typeof v1alpha.ServerReflectionResponseSchema
          >;
          yield create(v1alpha.ServerReflectionResponseSchema, { ...init, originalRequest: req });
        }
      },
    },
  };
}

interface Index {
  readonly registry: Registry;
  readonly files: ReadonlyMap<string, DescFile>;
}

function answer(index: Index, services: readonly string[], req: ServerReflectionRequest): Answer {
  const { registry } = index;
  const base = { validHost: req.host };
  const files = (file: DescFile | undefined, what: string): Answer => {
    if (!file) return notFound(base, what);
    return {
      ...base,
      messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } },
    };
  };
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return {
        ...base,
        messageResponse: { case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } },
      };
    case "fileByFilename":
      return files(index.files.get(r.value), `file "${r.value}"`);
    case "fileContainingSymbol":
      return files(fileOfSymbol(registry, r.value), `symbol "${r.value}"`);
    case "fileContainingExtension": {
      const msg = registry.getMessage(r.value.containingType);
      const ext = msg ? registry.getExtensionFor(msg, r.value.extensionNumber) : undefined;
      return files(ext?.file, `extension ${r.value.containingType}:${r.value.extensionNumber}`);
    }
    case "allExtensionNumbersOfType": {
      const msg = registry.getMessage(r.value);
      if (!msg) return notFound(base, `type "${r.value}"`);
      const numbers: number[] = [];
      for (const f of index.files.values()) {
        for (const e of f.extensions) if (e.extendee.typeName === msg.typeName) numbers.push(e.number);
      }
      return {
        ...base,
        messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: msg.typeName, extensionNumber: numbers } },
      };
    }
    default:
      return {
        ...base,
        messageResponse: { case: "errorResponse", value: { errorCode: Code.Unimplemented, errorMessage: "unsupported request" } },
      };
  }
}

function notFound(base: { validHost: string }, what: string): Answer {
  return {
    ...base,
    messageResponse: { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } },
  };
}

/** Finds the file defining a message, enum, service, method or extension. */
function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  const direct = registry.get(symbol);
  if (direct) return direct.file;
  // "pkg.Service.Method": look the service up and check the method exists.
  const dot = symbol.lastIndexOf(".");
  const service = registry.getService(symbol.slice(0, dot));
  return service?.methods.some((m) => m.name === symbol.slice(dot + 1)) ? service.file : undefined;
}

/** The file and everything it imports, each serialised, the file first. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const d of f.dependencies) visit(d);
  };
  visit(file);
  return out;
}
