/**
 * The simulated provider: models with a configurable time to first token,
 * speed, output and faults, so Detour runs — and visibly falls back — with no
 * keys at all. It implements the same Provider interface as the real
 * adapters; the engine has no special case for it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import type { CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { Role, ToolChoiceMode } from "../../gen/detour/v1/chat_pb.js";
import {
  SimulatedFaultKind,
  SimulatedOutputKind,
  type SimulatedModel,
  type SimulatedProvider,
} from "../../gen/detour/v1/config_pb.js";
import { CapabilitiesSchema, PricingSchema } from "../../gen/detour/v1/gateway_pb.js";
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { GatewayError } from "../errors.ts";
import { durationOr, formatDuration } from "../config/duration.ts";
import type { ModelEntry, Provider, ProviderCall, ProviderEvent } from "./types.ts";
import { newUsage } from "../literals.ts";

/** Dependencies a test may replace. */
export interface SimulatedDeps {
  /** Uniform random numbers in [0, 1). Default: seeded from config, or Math.random. */
  random?: () => number;
}

interface ModelPlan {
  readonly spec: SimulatedModel;
  readonly ttftMs: number;
  readonly tokenGapMs: number;
  readonly faults: readonly { kind: SimulatedFaultKind; rate: number; retryAfterMs: number; afterTokens: number }[];
}

const LOREM =
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat".split(
    " ",
  );

/** Builds a simulated provider from its config. */
export function createSimulatedProvider(name: string, config: SimulatedProvider, deps: SimulatedDeps = {}): Provider {
  const random = deps.random ?? (config.seed !== undefined ? seededRandom(Number(config.seed)) : Math.random);
  const plans = new Map<string, ModelPlan>();
  for (const m of config.models) {
    plans.set(m.name, {
      spec: m,
      ttftMs: durationOr(m.ttft, 0),
      tokenGapMs: m.tokensPerSecond > 0 ? 1000 / m.tokensPerSecond : 0,
      faults: m.faults.map((f) => ({
        kind: f.kind,
        rate: f.rate,
        retryAfterMs: durationOr(f.retryAfter, 1000),
        afterTokens: f.afterTokens,
      })),
    });
  }
  const entries: ModelEntry[] = config.models.map((m) => ({
    name: m.name,
    capabilities: create(CapabilitiesSchema, {
      tools: true,
      parallelToolCalls: true,
      jsonMode: true,
      jsonSchema: true,
      vision: true,
      streaming: true,
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      samplingParams: ["temperature", "top_p", "top_k", "seed", "stop", "presence_penalty", "frequency_penalty"],
      prefill: true,
    }),
    pricing: m.pricing ?? create(PricingSchema, { asOf: "simulated" }),
  }));

  return {
    name,
    system: "detour.simulated",
    models: () => entries,
    describe: (model) => entries.find((e) => e.name === model),
    stream(call) {
      const plan = plans.get(call.model);
      const fault = plan?.faults.find((f) => random() < f.rate);
      return run(name, plan, fault, call);
    },
  };
}

async function* run(
  provider: string,
  plan: ModelPlan | undefined,
  fault: ModelPlan["faults"][number] | undefined,
  call: ProviderCall,
): AsyncGenerator<readonly ProviderEvent[]> {
  const { signal, request } = call;
  const hop = { $typeName: "detour.v1.TargetRef" as const, provider, model: call.model };
  if (!plan) {
    throw new GatewayError("MODEL_NOT_FOUND", `simulated provider "${provider}" has no model "${call.model}"`, {
      hop,
      upstreamStatus: 404,
    });
  }
  switch (fault?.kind) {
    case SimulatedFaultKind.RATE_LIMIT:
      await sleep(1, undefined, { signal });
      throw new GatewayError("RATE_LIMITED", `rate limited; retry after ${formatDuration(fault.retryAfterMs)}`, {
        hop,
        upstreamStatus: 429,
        retryAfterMs: fault.retryAfterMs,
      });
    case SimulatedFaultKind.UNAVAILABLE:
      await sleep(1, undefined, { signal });
      throw new GatewayError("UPSTREAM_UNAVAILABLE", "service unavailable", { hop, upstreamStatus: 503 });
    case SimulatedFaultKind.INTERNAL:
      await sleep(1, undefined, { signal });
      throw new GatewayError("UPSTREAM_ERROR", "internal server error", { hop, upstreamStatus: 500 });
    case SimulatedFaultKind.HANG:
      await new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
  }
  if (plan.ttftMs > 0) await sleep(plan.ttftMs, undefined, { signal });

  const tool = pickTool(request);
  const maxTokens = request.sampling?.maxOutputTokens ?? Number.MAX_SAFE_INTEGER;
  const tokens = tool ? [] : tokenize(continuation(answerText(plan.spec, request), request));
  const stops = request.sampling?.stop ?? [];
  let text = "";
  let sent = 0;
  let finish = tool ? FinishReason.TOOL_CALLS : FinishReason.STOP;
  const breaksAt = fault ? fault.afterTokens : -1;

  // Events with no pause between them go out as one batch, as a burst read
  // from an upstream at once would; a pause (token_gap) or a fault ends it.
  let out: ProviderEvent[] = [];
  const take = () => {
    const batch = out;
    out = [];
    return batch;
  };
  if (tool) {
    const args = plan.spec.output?.toolArguments || "{}";
    out.push({ type: "tool_call", index: 0, id: `call_sim_${Date.now().toString(36)}`, name: tool, arguments: "" });
    for (let i = 0; i < args.length; i += 8) {
      if (sent === breaksAt) {
        if (out.length > 0) yield take();
        breakStream(fault, hop);
      }
      if (i > 0 && plan.tokenGapMs > 0) {
        if (out.length > 0) yield take();
        await sleep(plan.tokenGapMs, undefined, { signal });
      }
      out.push({ type: "tool_call", index: 0, arguments: args.slice(i, i + 8) });
      sent++;
    }
  } else {
    for (const token of tokens) {
      if (sent === breaksAt) {
        if (out.length > 0) yield take();
        breakStream(fault, hop);
      }
      if (sent >= maxTokens) {
        finish = FinishReason.LENGTH;
        break;
      }
      const next = text + token;
      const stopAt = firstStop(next, stops);
      if (stopAt >= 0) {
        const rest = next.slice(text.length, stopAt);
        if (rest) out.push({ type: "text", text: rest });
        break;
      }
      if (sent > 0 && plan.tokenGapMs > 0) {
        if (out.length > 0) yield take();
        await sleep(plan.tokenGapMs, undefined, { signal });
      }
      text = next;
      sent++;
      out.push({ type: "text", text: token });
    }
  }
  const inputTokens = Math.ceil(promptChars(request) / 4);
  out.push({ type: "usage", usage: newUsage({ inputTokens, outputTokens: sent, totalTokens: inputTokens + sent }) });
  out.push({ type: "finish", reason: finish });
  yield out;
}

function breakStream(
  fault: ModelPlan["faults"][number] | undefined,
  hop: { $typeName: "detour.v1.TargetRef"; provider: string; model: string },
): never {
  if (fault?.kind === SimulatedFaultKind.MALFORMED) {
    throw new GatewayError("MALFORMED_RESPONSE", "the upstream sent an unparseable chunk", { hop, upstreamStatus: 200 });
  }
  throw new GatewayError("STREAM_DROPPED", "the upstream closed the stream before it finished", { hop, upstreamStatus: 200 });
}

/**
 * With an assistant prefix (prefill) the simulated model continues its own
 * answer: what the prefix already says is not said again.
 */
function continuation(answer: string, request: CompleteRequest): string {
  const last = request.messages.at(-1);
  if (last?.role !== Role.ASSISTANT) return answer;
  const prefix = last.content.map((p) => (p.part.case === "text" ? p.part.value : "")).join("");
  return answer.startsWith(prefix) ? answer.slice(prefix.length) : answer;
}

function pickTool(request: CompleteRequest): string | undefined {
  if (request.tools.length === 0) return undefined;
  const choice = request.toolChoice?.choice;
  if (choice?.case === "mode" && choice.value === ToolChoiceMode.NONE) return undefined;
  if (choice?.case === "function") return choice.value;
  return request.tools[0]?.name;
}

function answerText(model: SimulatedModel, request: CompleteRequest): string {
  const out = model.output;
  switch (out?.kind ?? SimulatedOutputKind.ECHO) {
    case SimulatedOutputKind.TEXT:
      return out?.text ?? "";
    case SimulatedOutputKind.LOREM: {
      const n = out?.words || 30;
      return Array.from({ length: n }, (_, i) => LOREM[i % LOREM.length]).join(" ") + ".";
    }
    case SimulatedOutputKind.TOOL_CALL:
      return "(no tools were offered, so no tool was called)";
    default: {
      const last = [...request.messages].reverse().find((m) => m.role === Role.USER);
      const said = last?.content.map((p) => (p.part.case === "text" ? p.part.value : "")).join("") ?? "";
      return said ? `You said: ${said}` : "(nothing to echo)";
    }
  }
}

/** Splits text into word-sized tokens that concatenate back to the text. */
export function tokenize(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function firstStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

function promptChars(request: CompleteRequest): number {
  let n = 0;
  for (const m of request.messages) for (const p of m.content) if (p.part.case === "text") n += p.part.value.length;
  return n;
}

/** mulberry32: a small, fast, seedable PRNG for reproducible fault dice. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
