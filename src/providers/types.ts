/**
 * The one interface every provider adapter implements: a canonical request in,
 * an async iterable of internal events out, in batches: the events of one
 * upstream read together, so that a burst costs the engine one turn, not
 * one per token. The engine always reads upstream as a stream, so unary calls
 * take the same path. Failures are thrown as GatewayError from the iterator,
 * after the batch of the events decoded before them.
 */
import type { Context } from "@opentelemetry/api";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { Capabilities, Pricing } from "../../gen/detour/v1/gateway_pb.js";
import type { FinishReason, Usage } from "../../gen/detour/v1/result_pb.js";

/** One event of an upstream answer, vendor-neutral. */
export type ProviderEvent =
  | { readonly type: "text"; readonly text: string }
  | {
      readonly type: "tool_call";
      /** Which call within the answer, from 0. */
      readonly index: number;
      /** Set on the first delta of a call. */
      readonly id?: string;
      /** Set on the first delta of a call. */
      readonly name?: string;
      /** An argument fragment to append. */
      readonly arguments: string;
    }
  | { readonly type: "usage"; readonly usage: Usage }
  | { readonly type: "finish"; readonly reason: FinishReason };

/** One call to a provider. */
export interface ProviderCall {
  /** The canonical request, with the target's overrides applied. */
  readonly request: CompleteRequest;
  /** The model's name at the provider. */
  readonly model: string;
  /** Aborted when the attempt must stop: caller cancel, deadline, threshold. */
  readonly signal: AbortSignal;
  /** Absolute deadline (epoch ms) for the call. */
  readonly deadline: number;
  /** The idempotency key, for vendors that accept one. */
  readonly requestId: string;
  /** The attempt span's context, propagated upstream as traceparent. */
  readonly trace?: Context | undefined;
  /**
   * False when nobody needs the answer as it comes (a unary call with no
   * latency threshold): an adapter may then ask for a whole, unstreamed
   * answer. Undefined means stream.
   */
  readonly stream?: boolean;
}

/** What the catalog knows of a model; shared between calls, never to be modified. */
export interface ModelEntry {
  readonly name: string;
  readonly capabilities: Capabilities;
  readonly pricing: Pricing;
}

/** A configured upstream. */
export interface Provider {
  /** The provider's name in the config. */
  readonly name: string;
  /** The gen_ai.provider.name of the semantic conventions ("openai", "anthropic", "gcp.gemini", …). */
  readonly system: string;
  /** The models this provider is known to serve (for ListModels). */
  models(): readonly ModelEntry[];
  /** What the catalog or config knows of a model; undefined if nothing. */
  describe(model: string): ModelEntry | undefined;
  /** Starts a call; the iterable yields the answer's events, a non-empty batch at a time. */
  stream(call: ProviderCall): AsyncIterable<readonly ProviderEvent[]>;
  /** Releases connection pools. */
  close?(): Promise<void>;
}
