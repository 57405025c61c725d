/**
 * Folds a stream of gateway events into the unary CompleteResponse, so that
 * Complete and StreamComplete share one engine and cannot disagree.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MessageSchema, Role, ToolCallSchema, type Message, type ToolCall } from "../../gen/detour/v1/chat_pb.js";
import { CompleteResponseSchema, type CompleteResponse } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import type { GatewayEvent } from "./events.ts";

/** The answer so far, event by event: text, tool calls, and whether it was replayed. */
export interface AnswerFold {
  add(ev: GatewayEvent): void;
  /** The assistant message the events so far make. */
  message(): Message;
  readonly replayed: boolean;
}

/** Starts folding a stream's events into its answer (a rewinding hop starts over). */
export function foldAnswer(): AnswerFold {
  let text = "";
  let calls: ToolCall[] = [];
  let replayed = false;
  return {
    add({ event }) {
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
        case "done":
          replayed ||= event.value.replayed;
          break;
      }
    },
    message: () =>
      create(MessageSchema, {
        role: Role.ASSISTANT,
        content: text ? [{ part: { case: "text", value: text } }] : [],
        toolCalls: calls.filter((c) => c !== undefined),
      }),
    get replayed() {
      return replayed;
    },
  };
}

/** Consumes the events and returns the whole answer. */
export async function collectResponse(events: AsyncIterable<GatewayEvent>, now: () => number = Date.now): Promise<CompleteResponse> {
  const fold = foldAnswer();
  for await (const ev of events) {
    fold.add(ev);
    if (ev.event.case !== "done") continue;
    const done = ev.event.value;
    return create(CompleteResponseSchema, {
      id: done.id,
      message: fold.message(),
      finishReason: done.finishReason,
      ...(done.usage ? { usage: done.usage } : {}),
      ...(done.cost ? { cost: done.cost } : {}),
      ...(done.servedBy ? { servedBy: done.servedBy } : {}),
      route: done.route,
      attempts: done.attempts,
      replayed: fold.replayed,
      createTime: timestampFromMs(now()),
    });
  }
  throw new GatewayError("INTERNAL", "the stream ended without a done event");
}
