/**
 * Runs one provider call and collects its events, for adapter tests.
 */
import assert from "node:assert/strict";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { GatewayError } from "../../src/errors.js";
import type { Provider, ProviderEvent } from "../../src/providers/types.js";

/** The events of a call, with text and tool calls assembled. */
export interface Collected {
  events: ProviderEvent[];
  text: string;
  calls: { id: string; name: string; arguments: string }[];
  finish: number | undefined;
  usage: Extract<ProviderEvent, { type: "usage" }>["usage"] | undefined;
}

/** Calls `provider` and collects everything it yields. */
export async function collect(provider: Provider, request: CompleteRequest, model: string, signal = new AbortController().signal, stream?: boolean): Promise<Collected> {
  const out: Collected = { events: [], text: "", calls: [], finish: undefined, usage: undefined };
  for await (const batch of provider.stream({ request, model, signal, deadline: Date.now() + 10_000, requestId: "req-1", ...(stream === undefined ? {} : { stream }) })) {
    assert.ok(batch.length > 0, "a batch is never empty");
    for (const ev of batch) {
      out.events.push(ev);
      if (ev.type === "text") out.text += ev.text;
      if (ev.type === "tool_call") {
        const call = (out.calls[ev.index] ??= { id: "", name: "", arguments: "" });
        if (ev.id) call.id = ev.id;
        if (ev.name) call.name = ev.name;
        call.arguments += ev.arguments;
      }
      if (ev.type === "finish") out.finish = ev.reason;
      if (ev.type === "usage") out.usage = ev.usage;
    }
  }
  return out;
}

/** The GatewayError a call fails with. */
export async function failure(provider: Provider, request: CompleteRequest, model: string): Promise<GatewayError> {
  try {
    await collect(provider, request, model);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}
