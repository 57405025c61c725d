import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, createRegistry, fromBinary } from "@bufbuild/protobuf";
import { anyUnpack, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { GatewayService, StreamCompleteRequestSchema } from "../../gen/detour/v1/gateway_pb.js";
import { ErrorDetailSchema } from "../../gen/detour/v1/result_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as V1alphaReflection,
  ServerReflectionRequestSchema as V1alphaRequestSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createProviders } from "../../src/providers/registry.js";
import { parseConfig } from "../../src/config/load.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";
import { bidiStream, grpcClient, readAll, serverStream, unary } from "../helpers/grpc.js";
import { userRequest } from "../helpers/requests.js";
import { scriptedProvider, untilAborted } from "../helpers/scripted-provider.js";

const details = createRegistry(ErrorInfoSchema, RetryInfoSchema, ErrorDetailSchema);

/** Decodes the google.rpc.Status details a gRPC error carries. */
function statusDetails(err: ServiceError) {
  const bin = err.metadata.get("grpc-status-details-bin")[0];
  assert.ok(bin instanceof Buffer, "grpc-status-details-bin is present");
  const status = fromBinary(StatusSchema, bin);
  const unpacked = status.details.map((d) => anyUnpack(d, details));
  return {
    info: unpacked.find((m) => m?.$typeName === "google.rpc.ErrorInfo") as ReturnType<typeof create<typeof ErrorInfoSchema>> | undefined,
    retry: unpacked.find((m) => m?.$typeName === "google.rpc.RetryInfo") as ReturnType<typeof create<typeof RetryInfoSchema>> | undefined,
    detail: unpacked.find((m) => m?.$typeName === "detour.v1.ErrorDetail") as ReturnType<typeof create<typeof ErrorDetailSchema>> | undefined,
  };
}

function statusMessage(err: ServiceError): string {
  return fromBinary(StatusSchema, err.metadata.get("grpc-status-details-bin")[0] as Buffer).message;
}

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  assert.fail("expected a gRPC error");
}

describe("gRPC over h2c (grpc-js client)", () => {
  let t: TestApp;
  let client: ReturnType<typeof grpcClient>;
  const hang = scriptedProvider("up", async function* (call) {
    yield { type: "text", text: "first " };
    await untilAborted(call.signal);
  });

  before(async () => {
    const yaml = SIM_CONFIG.replace("providers:\n", "providers:\n  - { name: up, simulated: { models: [{ name: m }] } }\n");
    const providers = new Map(createProviders(parseConfig(yaml, "t")));
    providers.set("up", hang);
    t = await startApp(yaml, { providers });
    client = grpcClient(`127.0.0.1:${t.port}`);
  });
  after(async () => {
    client.close();
    await t.close();
  });

  test("Complete returns the answer with the attempts trail", async () => {
    const res = await unary(client, GatewayService.method.complete, userRequest("default"));
    assert.equal(res.message?.content[0]?.part.value, "hello from fast");
    assert.deepEqual(
      res.attempts.map((a) => [a.target?.model, a.reason]),
      [
        ["failing", "UPSTREAM_UNAVAILABLE"],
        ["fast", ""],
      ],
    );
  });

  test("idempotency-key metadata makes a repeat a replay", async () => {
    const md = new (await import("@grpc/grpc-js")).Metadata();
    md.set("idempotency-key", "grpc-idem-1");
    const first = await unary(client, GatewayService.method.complete, userRequest("sim/echo", "once"), {}, md);
    const again = await unary(client, GatewayService.method.complete, userRequest("sim/echo", "once"), {}, md);
    assert.equal(first.replayed, false);
    assert.equal(again.replayed, true);
    assert.equal(again.id, first.id);
  });

  test("StreamComplete streams events and ends with one done", async () => {
    const stream = serverStream(client, GatewayService.method.streamComplete, create(StreamCompleteRequestSchema, { request: userRequest("default") }));
    const evs = await readAll(stream);
    assert.equal(evs[0]?.event.case, "started");
    assert.equal(evs.at(-1)?.event.case, "done");
    assert.ok(evs.some((e) => e.event.case === "hop"));
  });

  test("an exhausted chain carries ErrorInfo, RetryInfo and the trail in status details", async () => {
    const err = await grpcError(unary(client, GatewayService.method.complete, userRequest("exhausted")));
    assert.equal(err.code, GrpcStatus.RESOURCE_EXHAUSTED);
    const { info, retry, detail } = statusDetails(err);
    assert.equal(info?.reason, "RATE_LIMITED");
    assert.equal(info?.domain, "detour.dev");
    assert.equal(Number(retry?.retryDelay?.seconds), 3);
    assert.equal(detail?.attempts.length, 2);
  });

  test("a bad request is INVALID_ARGUMENT naming the field", async () => {
    const err = await grpcError(unary(client, GatewayService.method.complete, userRequest("default", "x", { messages: [] })));
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    // grpc-js decodes grpc-message with decodeURI, which leaves "%3A" as is;
    // the message inside grpc-status-details-bin is exact.
    assert.match(decodeURIComponent(err.details), /^messages: /);
    assert.match(statusMessage(err), /^messages: must contain at least 1 item/);
    assert.equal(statusDetails(err).info?.reason, "INVALID_REQUEST");
  });

  test("the caller's deadline is honoured: DEADLINE_EXCEEDED", async () => {
    const err = await grpcError(
      unary(client, GatewayService.method.complete, userRequest("sim/hanging"), { deadline: Date.now() + 300 }),
    );
    assert.equal(err.code, GrpcStatus.DEADLINE_EXCEEDED);
  });

  test("a client cancel aborts the upstream call", async () => {
    const stream = serverStream(client, GatewayService.method.streamComplete, create(StreamCompleteRequestSchema, { request: userRequest("up/m") }));
    const aborted = hang.nextAbort();
    await new Promise<void>((resolve) => stream.on("data", (ev: { event: { case: string } }) => ev.event.case === "content" && resolve()));
    stream.on("error", () => undefined);
    stream.cancel();
    await aborted;
    assert.equal(hang.calls.at(-1)?.aborted, true);
  });

  test("health says SERVING for the server and the gateway service", async () => {
    for (const service of ["", "detour.v1.GatewayService"]) {
      const res = await unary(client, Health.method.check, create(HealthCheckRequestSchema, { service }));
      assert.equal(res.status, HealthCheckResponse_ServingStatus.SERVING);
    }
    const err = await grpcError(unary(client, Health.method.check, create(HealthCheckRequestSchema, { service: "nope" })));
    assert.equal(err.code, GrpcStatus.NOT_FOUND);
  });

  test("reflection lists the services and serves their descriptors", async () => {
    const call = bidiStream(client, ServerReflection.method.serverReflectionInfo);
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (m) => {
        replies.push(m);
        if (replies.length === 2) call.end();
      });
      call.on("end", resolve);
      call.on("error", reject);
    });
    call.write(create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } }));
    call.write(create(ServerReflectionRequestSchema, { messageRequest: { case: "fileContainingSymbol", value: "detour.v1.GatewayService" } }));
    await done;
    const [list, file] = replies as { messageResponse: { case: string; value: { service?: { name: string }[]; fileDescriptorProto?: Uint8Array[] } } }[];
    assert.deepEqual(
      list?.messageResponse.value.service?.map((s) => s.name),
      [
        "detour.v1.GatewayService",
        "detour.v1.AdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ],
    );
    const protos = file?.messageResponse.value.fileDescriptorProto?.map((b) => fromBinary(FileDescriptorProtoSchema, b)) ?? [];
    assert.equal(protos[0]?.name, "detour/v1/gateway.proto");
    assert.ok(protos[0]?.service.some((s) => s.name === "GatewayService"));
    assert.ok(protos.some((p) => p.name === "detour/v1/chat.proto"), "dependencies come along");
  });

  test("reflection v1alpha answers too, for older grpcurl and Postman", async () => {
    const call = bidiStream(client, V1alphaReflection.method.serverReflectionInfo);
    const reply = new Promise<{ messageResponse: { case: string; value: unknown } }>((resolve, reject) => {
      call.on("data", (m: { messageResponse: { case: string; value: unknown } }) => {
        resolve(m);
        call.end();
      });
      call.on("error", reject);
    });
    call.write(create(V1alphaRequestSchema, { messageRequest: { case: "fileByFilename", value: "detour/v1/chat.proto" } }));
    const res = await reply;
    assert.equal(res.messageResponse.case, "fileDescriptorResponse");
  });
});
