/**
 * GatewayError → ConnectError: the Connect code, google.rpc.ErrorInfo with the
 * machine reason, google.rpc.RetryInfo when waiting helps, and Detour's
 * ErrorDetail with the attempts trail.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";

type OutgoingDetail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ErrorDetailSchema } from "../gen/detour/v1/result_pb.js";
import { ERROR_DOMAIN, type GatewayError } from "./errors.ts";

/** Maps a GatewayError to the ConnectError callers receive. */
export function toConnectError(e: GatewayError): ConnectError {
  const metadata: Record<string, string> = {};
  if (e.hop) {
    metadata["provider"] = e.hop.provider;
    metadata["model"] = e.hop.model;
  }
  if (e.upstreamStatus) metadata["upstream_status"] = String(e.upstreamStatus);
  if (e.field) metadata["field"] = e.field;
  const details: OutgoingDetail[] = [
    { desc: ErrorInfoSchema, value: { reason: e.reason, domain: ERROR_DOMAIN, metadata } },
  ];
  if (e.retryAfterMs !== undefined) {
    details.push({ desc: RetryInfoSchema, value: { retryDelay: durationFromMs(e.retryAfterMs) } });
  }
  details.push({
    desc: ErrorDetailSchema,
    value: create(ErrorDetailSchema, {
      reason: e.reason,
      attempts: e.attempts,
      id: e.id,
      deliveredChars: e.delivered?.chars ?? 0,
      deliveredToolCalls: e.delivered?.toolCalls ?? 0,
      field: e.field ?? "",
    }),
  });
  return new ConnectError(e.message, e.code, undefined, details);
}
