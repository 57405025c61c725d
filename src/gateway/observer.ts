/**
 * What the engine tells observers (metrics, statistics, request logs) when a
 * request ends. One record per request, built once, shared by all.
 */
import type { Attempt, TargetRef, Usage } from "../../gen/detour/v1/result_pb.js";

/** The end of one request. */
export interface RequestRecord {
  readonly id: string;
  readonly route: string;
  /** What the caller asked for (route name or provider/model). */
  readonly model: string;
  readonly streaming: boolean;
  /** "ok", or the error's reason. */
  readonly outcome: string;
  /** The error's message, upstream prose withheld unless telemetry.include_content. */
  readonly message: string;
  readonly attempts: readonly Attempt[];
  readonly servedBy: TargetRef | undefined;
  readonly usage: Usage | undefined;
  readonly answerUsd: number;
  readonly wastedUsd: number;
  readonly latencyMs: number;
  readonly endedAt: number;
  readonly traceId: string;
  readonly spanId: string;
  /** Prompt and answer (GenAI message shapes), only with telemetry.include_content. */
  readonly content?: RequestContent | undefined;
}

/** A request's messages and its answer, when content is recorded. */
export interface RequestContent {
  readonly input: readonly object[];
  /** Absent when the request failed. */
  readonly output?: readonly object[] | undefined;
}

/** Receives request records. */
export interface GatewayObserver {
  onRequest(r: RequestRecord): void;
  /** A repeat of a request ID was answered from a stored or running execution. */
  onReplay?(route: string): void;
}
