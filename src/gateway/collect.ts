/**
 * Folds a stream of gateway events into the unary CompleteResponse, so that
 * Complete and StreamComplete share one engine and cannot disagree.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MessageSchema, Role, ToolCallSchema, type ToolCall } from "../../gen/detour/v1/chat_pb.js";
import { CompleteResponseSchema, type CompleteResponse } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import type { GatewayEvent } from "./events.ts";

/** Consumes the events and returns the whole answer. */
export async function collectResponse(events: AsyncIterable<GatewayEvent>, now: () => number = Date.now): Promise<CompleteResponse> {
  let text = "";
  let calls: ToolCall[] = [];
  let replayed = false;
  for await (const { event } of events) {
    switch (event.case) {
      case "started":
        replayed = event.value.replayed;
        break;
      case "content":
        text += event.value.text;
        break;
      case "toolCall": {
        const d = event.value;
        const call = (calls[d.index] ??= create(ToolCallSchema));
        if (d.id) call.id = d.id;
        if (d.name) call.name = d.name;
        call.arguments += d.arguments;
        break;
      }
      case "hop":
        if (event.value.rewind) {
          text = "";
          calls = [];
        }
        break;
      case "done": {
        const done = event.value;
        return create(CompleteResponseSchema, {
          id: done.id,
          message: create(MessageSchema, {
            role: Role.ASSISTANT,
            content: text ? [{ part: { case: "text", value: text } }] : [],
            toolCalls: calls.filter((c) => c !== undefined),
          }),
          finishReason: done.finishReason,
          ...(done.usage ? { usage: done.usage } : {}),
          ...(done.cost ? { cost: done.cost } : {}),
          ...(done.servedBy ? { servedBy: done.servedBy } : {}),
          route: done.route,
          attempts: done.attempts,
          replayed: replayed || done.replayed,
          createTime: timestampFromMs(now()),
        });
      }
    }
  }
  throw new GatewayError("INTERNAL", "the stream ended without a done event");
}
