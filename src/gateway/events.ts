/**
 * Constructors for the stream events the engine emits. The engine's output is
 * the generated StreamCompleteResponse itself: the gRPC handler sends it as is,
 * the unary path folds it into a CompleteResponse, the OpenAI handler maps it
 * to SSE chunks.
 */
import { create } from "@bufbuild/protobuf";
import type { CommitPolicy } from "../../gen/detour/v1/chat_pb.js";
import {
  StreamCompleteResponseSchema,
  type StreamCompleteResponse,
} from "../../gen/detour/v1/gateway_pb.js";
import type { Attempt, Cost, FinishReason, TargetRef, Usage } from "../../gen/detour/v1/result_pb.js";

/** The engine's output: one stream event. */
export type GatewayEvent = StreamCompleteResponse;

/** The first event of every stream. */
export function startedEvent(id: string, route: string, target: TargetRef, replayed = false): GatewayEvent {
  return create(StreamCompleteResponseSchema, { event: { case: "started", value: { id, route, target, replayed } } });
}

/** A text delta. */
export function contentEvent(text: string): GatewayEvent {
  return create(StreamCompleteResponseSchema, { event: { case: "content", value: { text } } });
}

/** A tool-call delta. */
export function toolCallEvent(index: number, id: string, name: string, args: string): GatewayEvent {
  return create(StreamCompleteResponseSchema, {
    event: { case: "toolCall", value: { index, id, name, arguments: args } },
  });
}

/** What a hop event says. */
export interface HopInit {
  from: TargetRef;
  to: TargetRef;
  reason: string;
  attemptIndex: number;
  rewind?: boolean;
  policy?: CommitPolicy;
  deliveredChars?: number;
  keptToolCallIds?: string[];
}

/** The gateway moved from one target to another. */
export function hopEvent(init: HopInit): GatewayEvent {
  return create(StreamCompleteResponseSchema, { event: { case: "hop", value: init } });
}

/** The answering attempt's usage. */
export function usageEvent(usage: Usage): GatewayEvent {
  return create(StreamCompleteResponseSchema, { event: { case: "usage", value: usage } });
}

/** What the done event says. */
export interface DoneInit {
  id: string;
  finishReason: FinishReason;
  usage: Usage | undefined;
  cost: Cost;
  servedBy: TargetRef;
  route: string;
  attempts: Attempt[];
  replayed?: boolean;
}

/** The last event of a successful stream. */
export function doneEvent(init: DoneInit): GatewayEvent {
  return create(StreamCompleteResponseSchema, { event: { case: "done", value: init } });
}
