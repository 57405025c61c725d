/**
 * A provider whose behaviour a test writes as a generator, with a log of the
 * calls it received and whether each one was aborted.
 */
import { create } from "@bufbuild/protobuf";
import { CapabilitiesSchema, PricingSchema } from "../../gen/detour/v1/gateway_pb.js";
import type { Provider, ProviderCall, ProviderEvent } from "../../src/providers/types.js";

/** One recorded call. */
export interface RecordedCall {
  readonly call: ProviderCall;
  aborted: boolean;
}

/** A provider plus its call log. */
export interface ScriptedProvider extends Provider {
  readonly calls: RecordedCall[];
  /** Resolves when the next call's signal aborts. */
  nextAbort(): Promise<void>;
}

/** A script's events, each a batch of its own (as an upstream that sends them one read apart). */
async function* oneByOne(events: AsyncIterable<ProviderEvent>): AsyncGenerator<readonly ProviderEvent[]> {
  for await (const ev of events) yield [ev];
}

/** Creates a provider that runs `script` for every call. */
export function scriptedProvider(
  name: string,
  script: (call: ProviderCall) => AsyncGenerator<ProviderEvent>,
  models: string[] = ["m"],
): ScriptedProvider {
  const calls: RecordedCall[] = [];
  const waiters: (() => void)[] = [];
  return {
    name,
    system: "test",
    calls,
    nextAbort: () => new Promise((resolve) => waiters.push(resolve)),
    models: () =>
      models.map((m) => ({
        name: m,
        capabilities: create(CapabilitiesSchema, { tools: true, streaming: true }),
        pricing: create(PricingSchema, { inputPerMtok: 1, outputPerMtok: 2, asOf: "test" }),
      })),
    describe(model) {
      return this.models().find((m) => m.name === model);
    },
    stream(call) {
      const rec: RecordedCall = { call, aborted: false };
      calls.push(rec);
      call.signal.addEventListener("abort", () => {
        rec.aborted = true;
        waiters.shift()?.();
      });
      return oneByOne(script(call));
    },
  };
}

/** Resolves when `signal` aborts, then throws its reason, like a real upstream. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
