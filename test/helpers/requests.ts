/**
 * Builders for canonical requests in tests.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CompleteRequestSchema, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";

/** Init fields of a CompleteRequest. */
export type RequestInit = MessageInitShape<typeof CompleteRequestSchema>;

/** A one-message user request for `model`. */
export function userRequest(model: string, text = "hello", extra: RequestInit = {}): CompleteRequest {
  return create(CompleteRequestSchema, {
    model,
    messages: [{ role: Role.USER, content: [{ part: { case: "text", value: text } }] }],
    ...extra,
  });
}
