/**
 * Folds a stream of gateway events into the unary CompleteResponse, so that
 * Complete and StreamComplete share one engine and cannot disagree.
 */
import { Role, type Message, type ToolCall } from "../../gen/detour/v1/chat_pb.js";
import type { CompleteResponse } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import { timestampOf } from "../literals.ts";
import type { GatewayBatch, GatewayEvent } from "./events.ts";

/** The answer so far, event by event: text, tool calls, and whether it was replayed. */
export interface AnswerFold {
  add(ev: GatewayEvent): void;
  /** The assistant message the events so far make. */
  message(): Message;
  readonly replayed: boolean;
}

/** Starts folding a stream's events into its answer (a rewinding hop starts over). */
export function foldAnswer(): AnswerFold {
  return new Fold();
}

/** A class, not a closure object: one allocation per request instead of five. */
class Fold implements AnswerFold {
  #text = "";
  #calls: ToolCall[] = [];
  replayed = false;

  add({ event }: GatewayEvent): void {
    switch (event.case) {
      case "started":
        this.replayed = event.value.replayed;
        break;
      case "content":
        this.#text += event.value.text;
        break;
      case "toolCall": {
        const d = event.value;
        const call = (this.#calls[d.index] ??= { $typeName: "detour.v1.ToolCall", id: "", name: "", arguments: "" });
        if (d.id) call.id = d.id;
        if (d.name) call.name = d.name;
        call.arguments += d.arguments;
        break;
      }
      case "hop":
        if (event.value.rewind) {
          this.#text = "";
          this.#calls = [];
        }
        break;
      case "done":
        this.replayed ||= event.value.replayed;
        break;
    }
  }

  // Typed literals, not create() (see literals.ts); events.test.ts checks they match.
  message(): Message {
    const text = this.#text;
    return {
      $typeName: "detour.v1.Message",
      role: Role.ASSISTANT,
      content: text ? [{ $typeName: "detour.v1.ContentPart", part: { case: "text", value: text } }] : [],
      toolCalls: this.#calls.length === 0 ? [] : this.#calls.filter((c) => c !== undefined),
      toolCallId: "",
      name: "",
    };
  }
}

/** Consumes the events and returns the whole answer; `onEvent` sees each first. */
export async function collectResponse(batches: AsyncIterable<GatewayBatch>, now: () => number = Date.now, onEvent?: (ev: GatewayEvent) => void): Promise<CompleteResponse> {
  const fold = foldAnswer();
  for await (const batch of batches) for (const ev of batch) {
    onEvent?.(ev);
    fold.add(ev);
    if (ev.event.case !== "done") continue;
    const done = ev.event.value;
    const out: CompleteResponse = {
      $typeName: "detour.v1.CompleteResponse",
      id: done.id,
      message: fold.message(),
      finishReason: done.finishReason,
      route: done.route,
      attempts: done.attempts,
      replayed: fold.replayed,
      createTime: timestampOf(now()),
    };
    if (done.usage) out.usage = done.usage;
    if (done.cost) out.cost = done.cost;
    if (done.servedBy) out.servedBy = done.servedBy;
    return out;
  }
  throw new GatewayError("INTERNAL", "the stream ended without a done event");
}
