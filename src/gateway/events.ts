/**
 * Constructors for the stream events the engine emits. The engine's output is
 * the generated StreamCompleteResponse itself: the gRPC handler sends it as is,
 * the unary path folds it into a CompleteResponse, the OpenAI handler maps it
 * to SSE chunks.
 *
 * The events of every request (started, content and tool-call deltas, usage, hop, done)
 * are written as typed literals rather than through create(): create() walks
 * the schema on each call, several times the cost, and the generated types
 * make a literal that misses a field a compile error. A test checks that each
 * equals what create() makes.
 */
import { CommitPolicy } from "../../gen/detour/v1/chat_pb.js";
import {
  StreamCompleteResponseSchema,
  type Done,
  type Hop,
  type StreamCompleteResponse,
} from "../../gen/detour/v1/gateway_pb.js";
import type { Attempt, Cost, FinishReason, TargetRef, Usage } from "../../gen/detour/v1/result_pb.js";

/** The engine's output: one stream event. */
export type GatewayEvent = StreamCompleteResponse;

/**
 * The engine's stream hands events on in batches, never empty: those of one
 * upstream read together, so that a burst of tokens costs each layer one
 * turn instead of one per token.
 */
export type GatewayBatch = readonly GatewayEvent[];

const TYPE = StreamCompleteResponseSchema.typeName as "detour.v1.StreamCompleteResponse";

/** The first event of every stream. */
export function startedEvent(id: string, route: string, target: TargetRef, replayed = false): GatewayEvent {
  return { $typeName: TYPE, event: { case: "started", value: { $typeName: "detour.v1.Started", id, route, target, replayed } } };
}

/** A text delta. */
export function contentEvent(text: string): GatewayEvent {
  return { $typeName: TYPE, event: { case: "content", value: { $typeName: "detour.v1.ContentDelta", text } } };
}

/** A tool-call delta. */
export function toolCallEvent(index: number, id: string, name: string, args: string): GatewayEvent {
  return { $typeName: TYPE, event: { case: "toolCall", value: { $typeName: "detour.v1.ToolCallDelta", index, id, name, arguments: args } } };
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

/** The gateway moved from one target to another (on every failover: a literal too). */
export function hopEvent(init: HopInit): GatewayEvent {
  const { from, to, reason, attemptIndex, rewind = false, policy = CommitPolicy.UNSPECIFIED, deliveredChars = 0, keptToolCallIds = [] } = init;
  const value: Hop = { $typeName: "detour.v1.Hop", from, to, reason, rewind, policy, deliveredChars, keptToolCallIds, attemptIndex };
  return { $typeName: TYPE, event: { case: "hop", value } };
}

/** The answering attempt's usage. */
export function usageEvent(usage: Usage): GatewayEvent {
  return { $typeName: TYPE, event: { case: "usage", value: usage } };
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
  const { id, finishReason, usage, cost, servedBy, route, attempts, replayed = false } = init;
  const value: Done = { $typeName: "detour.v1.Done", id, finishReason, cost, servedBy, route, attempts, replayed };
  if (usage) value.usage = usage;
  return { $typeName: TYPE, event: { case: "done", value } };
}
