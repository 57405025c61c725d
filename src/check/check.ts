/**
 * `detour check --route NAME`: sends one probe — by default a small request,
 * or the caller's own production request — to every target of a route, each
 * on its own (no fallback, no breaker), streaming, with the route's
 * per-target overrides, and reports which targets honour it: whether the
 * capability check lets the request through, whether the call succeeded, how
 * fast, and whether tool calls and JSON output came back as asked.
 */
import { create } from "@bufbuild/protobuf";
import { CompleteRequestSchema, ResponseFormatType, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { FinishReason } from "../../gen/detour/v1/result_pb.js";
import { toGatewayError } from "../errors.ts";
import { mismatch, needsOf } from "../gateway/capabilities.ts";
import { requestFor, type Plan } from "../gateway/plan.ts";
import type { Providers } from "../providers/registry.ts";
import { isPriced } from "../gateway/quote.ts";

/** One target's result. */
export interface CheckRow {
  readonly target: string;
  readonly ok: boolean;
  /** "honoured", "set aside", or the failure reason. */
  readonly verdict: string;
  readonly detail: string;
  readonly ttftMs: number | undefined;
  readonly latencyMs: number | undefined;
}

/** The probe used when the caller gives none. */
export function defaultProbe(): CompleteRequest {
  return create(CompleteRequestSchema, {
    model: "probe",
    messages: [{ role: Role.USER, content: [{ part: { case: "text", value: "Reply with the single word OK." } }] }],
    sampling: { maxOutputTokens: 16 },
  });
}

const FINISH: Record<number, string> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.TOOL_CALLS]: "tool_calls",
  [FinishReason.CONTENT_FILTER]: "content_filter",
};

/** Probes every target of `plan` with `probe`. */
export async function checkRoute(plan: Plan, probe: CompleteRequest, providers: Providers, timeoutMs = 30_000, now = Date.now): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  for (const t of plan.targets) {
    const request = requestFor({ ...probe, model: t.id }, t);
    const provider = providers.get(t.ref.provider);
    const unfit = provider ? mismatch(t.id, provider.describe(t.ref.model), needsOf(request, true)) : `no provider named "${t.ref.provider}"`;
    if (!provider || unfit) {
      rows.push({ target: t.id, ok: false, verdict: "set aside", detail: unfit ?? "", ttftMs: undefined, latencyMs: undefined });
      continue;
    }
    const started = now();
    let ttft: number | undefined;
    let text = "";
    let calls = 0;
    let finish = FinishReason.UNSPECIFIED;
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      for await (const batch of provider.stream({ request, model: t.ref.model, signal, deadline: started + timeoutMs, requestId: "" })) {
        for (const ev of batch) {
          if ((ev.type === "text" || ev.type === "tool_call") && ttft === undefined) ttft = now() - started;
          if (ev.type === "text") text += ev.text;
          if (ev.type === "tool_call" && ev.id) calls++;
          if (ev.type === "finish") finish = ev.reason;
        }
      }
      const notes = [`finish ${FINISH[finish] ?? "unknown"}`];
      // Said here, not found on the bill: a model with no price costs "unknown", never $0.
      if (!isPriced(provider.describe(t.ref.model)?.pricing)) notes.push("price unknown (add pricing: under providers[].models[])");
      let ok = true;
      if (request.tools.length > 0) {
        notes.push(calls > 0 ? `${calls} tool call${calls > 1 ? "s" : ""}` : "no tool call");
      }
      const rf = request.responseFormat?.type;
      if (rf === ResponseFormatType.JSON_OBJECT || rf === ResponseFormatType.JSON_SCHEMA) {
        const valid = isJson(text);
        notes.push(valid ? "valid JSON" : "output is not JSON");
        ok = ok && valid;
      }
      rows.push({ target: t.id, ok, verdict: ok ? "honoured" : "answered wrongly", detail: notes.join(", "), ttftMs: ttft, latencyMs: now() - started });
    } catch (e) {
      const err = toGatewayError(e);
      rows.push({ target: t.id, ok: false, verdict: err.reason, detail: err.message, ttftMs: ttft, latencyMs: now() - started });
    }
  }
  return rows;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Formats the rows as a table for a terminal. */
export function formatRows(route: string, rows: readonly CheckRow[]): string {
  const ms = (v: number | undefined) => (v === undefined ? "-" : `${Math.round(v)}ms`);
  const table = [
    ["target", "result", "ttft", "total", "detail"],
    ...rows.map((r) => [r.target, `${r.ok ? "✓" : "✗"} ${r.verdict}`, ms(r.ttftMs), ms(r.latencyMs), r.detail]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
  const lines = table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "));
  const honoured = rows.filter((r) => r.ok).length;
  return `route ${route}: ${honoured} of ${rows.length} targets honour the request\n${lines.join("\n")}\n`;
}
