/**
 * The OpenAI-compatible HTTP API on the gateway's port: POST
 * /v1/chat/completions (JSON or SSE) and GET /v1/models. It only converts:
 * JSON in → the canonical request → the same engine the gRPC API uses →
 * events back out in OpenAI's shapes.
 */
import { once } from "node:events";
import { ServerResponse } from "node:http";
import { context, propagation } from "@opentelemetry/api";
import { GatewayError, invalidRequest, toGatewayError, wastedUsd } from "../../errors.ts";
import { toOpenAIError } from "../../errors-openai.ts";
import type { CallOptions, Gateway } from "../../gateway/gateway.ts";
import type { Auth, Principal } from "../auth.ts";
import { decodeChat } from "./decode.ts";
import { head, header, readJsonBody, requestId, sendError, sendJson, type Req, type Res } from "./http-io.ts";
import { toJson } from "@bufbuild/protobuf";
import { GetStatsResponseSchema } from "../../../gen/detour/v1/admin_pb.js";
import type { Stats } from "../../stats/stats.ts";
import type { Budgets, Hold } from "../budgets.ts";
import type { CompleteRequest } from "../../../gen/detour/v1/chat_pb.js";
import { completionJson, createChunker } from "./encode.ts";
import type { TargetRef } from "../../../gen/detour/v1/result_pb.js";
import { headerValue } from "../header-value.ts";
import { requireJsonBody } from "../content-type.ts";

/** What the handler needs. */
export interface OpenAIDeps {
  readonly gateway: Gateway;
  readonly auth: Auth;
  readonly maxBodyBytes: number;
  readonly stats: Stats;
  readonly budgets: Budgets;
}

/** What the OpenAI-compatible API serves, for the answer to a path it does not. */
const SERVED = ["POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{id}"];

/** Returns a handler for /v1/* paths, or false for paths it does not serve. */
export function openaiHandler(deps: OpenAIDeps): (req: Req, res: Res, path: string) => boolean {
  return (req, res, path) => {
    if (path === "/v1/models" && req.method === "GET") {
      void guard(res, async () => {
        deps.auth.authenticate(header(req, "authorization"));
        sendJson(res, 200, { object: "list", data: modelList(deps.gateway) }, { "x-request-id": requestId() });
      });
      return true;
    }
    if (path.startsWith("/v1/models/") && req.method === "GET") {
      void guard(res, async () => {
        deps.auth.authenticate(header(req, "authorization"));
        const id = decodeURIComponent(path.slice("/v1/models/".length));
        const model = modelList(deps.gateway).find((m) => m.id === id);
        if (!model) throw new GatewayError("UNKNOWN_MODEL", `model: "${id}" is not a route or provider/model this gateway serves; GET /v1/models lists them`, { field: "model" });
        sendJson(res, 200, model, { "x-request-id": requestId() });
      });
      return true;
    }
    if (path === "/v1/detour/stats" && req.method === "GET") {
      void guard(res, async () => {
        const p = deps.auth.authenticate(header(req, "authorization"));
        if (deps.auth.enabled && !p.admin) throw new GatewayError("PERMISSION_DENIED", `key "${p.name}" may not read statistics`);
        const route = new URL(req.url ?? "/", "http://x").searchParams.get("route") ?? undefined;
        sendJson(res, 200, toJson(GetStatsResponseSchema, deps.stats.get(route)));
      });
      return true;
    }
    if (path === "/v1/chat/completions") {
      if (req.method !== "POST") {
        sendJson(res, 405, toOpenAIError(invalidRequest("method", "use POST")).body, { allow: "POST" });
        return true;
      }
      void guard(res, () => chat(deps, req, res));
      return true;
    }
    sendError(res, new GatewayError("UNKNOWN_PATH", `${req.method} ${path} is not served by Detour; it serves ${SERVED.join(", ")}`));
    return true;
  };
}

/** Routes and provider/model targets as OpenAI Model objects. */
function modelList(gateway: Gateway) {
  const list = gateway.listModels();
  return [
    ...list.routes.map((r) => ({ id: r.name, object: "model", created: 0, owned_by: "detour" })),
    ...list.models.map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.target?.provider ?? "" })),
  ];
}

async function guard(res: Res, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (!res.headersSent) sendError(res, e);
    else res.end();
  }
}

async function chat(deps: OpenAIDeps, req: Req, res: Res): Promise<void> {
  const principal = deps.auth.authenticate(header(req, "authorization"));
  requireJsonBody(header(req, "content-type"));
  const body = await readJsonBody(req, res, deps.maxBodyBytes);
  const { request, stream, includeUsage } = decodeChat(body, header(req, "x-detour-route"));
  deps.auth.authorize(principal, request.model, Object.keys(request.providerOptions).length > 0);
  const key = header(req, "idempotency-key") ?? header(req, "x-request-id");
  if (key) request.requestId = key;
  const maxCost = header(req, "x-detour-max-cost");
  if (maxCost !== undefined) {
    const n = Number(maxCost);
    if (!(Number.isFinite(n) && n > 0)) throw invalidRequest("x-detour-max-cost", `must be a positive number of US dollars, got "${maxCost}"`);
    request.routing = { ...(request.routing ?? { $typeName: "detour.v1.RoutingOptions", allowProviders: [], denyProviders: [], commitPolicy: 0, maxHops: 0 }), maxCostUsd: n };
  }
  // After the ID and max cost are set: the request is quoted as it will run.
  const hold = await deps.budgets.admit(principal, () => deps.gateway.quote(request, stream));
  try {
    await run(deps, req, res, request, stream, includeUsage, principal, hold);
  } finally {
    // A caller that went away: its reservation is let go (the first settle counts).
    hold.settle(0);
  }
}

async function run(deps: OpenAIDeps, req: Req, res: Res, request: CompleteRequest, stream: boolean, includeUsage: boolean, principal: Principal, hold: Hold): Promise<void> {
  const ctl = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) ctl.abort();
  });
  const trace = propagation.extract(context.active(), req.headers);
  // What a failed request cost (its wasted hops) counts against the key too.
  const charged = (e: unknown): never => {
    hold.settle(wastedUsd(e));
    throw e;
  };
  if (!stream) {
    const out = await deps.gateway.complete(request, { signal: ctl.signal, trace, scope: principal.name }).catch(charged);
    // Recorded before the answer is written: nothing in the writing can lose it.
    hold.settle(out.cost?.totalUsd ?? 0);
    sendJson(res, 200, completionJson(out, request.model), {
      "x-request-id": headerValue(out.id),
      "x-detour-provider": headerValue(out.servedBy?.provider ?? ""),
      "x-detour-model": headerValue(out.servedBy?.model ?? ""),
      "x-detour-attempts": String(out.attempts.length),
      "x-detour-cost-usd": String(out.cost?.totalUsd ?? 0),
      ...(out.replayed ? { "x-detour-replayed": "true" } : {}),
    });
    return;
  }
  const spent = await streamChat(deps.gateway, request, includeUsage, ctl, res, { signal: ctl.signal, trace, scope: principal.name }).catch(charged);
  hold.settle(spent);
}

async function streamChat(gateway: Gateway, request: Parameters<Gateway["stream"]>[0], includeUsage: boolean, ctl: AbortController, res: Res, opts: CallOptions): Promise<number> {
  let spent = 0;
  let chunker: ReturnType<typeof createChunker> | undefined;
  let id = "";
  let target: TargetRef | undefined;
  let replayed = false;
  /** The serving target changed (start, hop, done): for the head and the chunks. */
  const retarget = (ref: TargetRef | undefined) => {
    if (!ref) return;
    target = ref;
    chunker?.target(ref);
  };
  // The head and the role chunk wait for the first output (hop comments
  // before it wait in `pending`): the upstream call starts before any client
  // write, the head names the target that answers, and a request that fails
  // before any output gets a real HTTP error instead of a 200 with an error
  // event.
  let pending = "";
  // Set while the response is full: the loop waits for it to drain before
  // it reads on. A response whose client went away never drains: stop
  // waiting when it closes (ctl aborts then), or the call would never finish.
  let full: Promise<void> | undefined;
  /**
   * Writes the text of one batch of events — those read from the upstream
   * together — in one write: one chunk on the wire, as a pass-through proxy
   * writes what it reads, not one write and one chunk header per token.
   */
  const write = (text: string, last: boolean): void => {
    if (ctl.signal.aborted || text === "") return;
    const first = !res.headersSent;
    if (first) {
      head(res, 200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-request-id": headerValue(id),
        "x-detour-provider": headerValue(target?.provider ?? ""),
        "x-detour-model": headerValue(target?.model ?? ""),
        ...(replayed ? { "x-detour-replayed": "true" } : {}),
      });
      // The role chunk names the model that answers, after any early hop.
      text = (chunker?.role() ?? "") + pending + text;
      pending = "";
    }
    if (!(res as ServerResponse).write(text) && !full) {
      full = once(res, "drain", { signal: ctl.signal }).then(
        () => void (full = undefined),
        () => void (full = undefined),
      );
    }
    // Node corks a chunked response until the next tick: the first output
    // goes out now instead — unless the answer ends with it, and the end's
    // write joins it. The socket's cork, not the response's: the response
    // was never corked, and uncorking it would unbalance it.
    if (first && !last && res instanceof ServerResponse) res.socket?.uncork();
  };
  try {
    for await (const batch of gateway.stream(request, opts)) {
      if (ctl.signal.aborted) return spent;
      let text = "";
      let last = false;
      for (const { event } of batch) {
        switch (event.case) {
          case "started":
            id = event.value.id;
            chunker = createChunker(id, request.model, includeUsage);
            retarget(event.value.target);
            replayed = event.value.replayed;
            break;
          case "content":
            text += chunker?.content(event.value.text) ?? "";
            break;
          case "toolCall":
            text += chunker?.toolCall(event.value.index, event.value.id, event.value.name, event.value.arguments) ?? "";
            break;
          case "hop": {
            retarget(event.value.to);
            const comment = chunker?.hop(event.value) ?? "";
            if (res.headersSent || text !== "") text += comment;
            else pending += comment;
            break;
          }
          case "done":
            spent = event.value.cost?.totalUsd ?? 0;
            retarget(event.value.servedBy);
            text += chunker?.done(event.value) ?? "";
            last = true;
            break;
          default:
            break;
        }
      }
      write(text, last);
      // Wait only when the response is full: a promise per write is a cost.
      if (full) await full;
    }
    res.end();
    return spent;
  } catch (e) {
    if (!res.headersSent) throw e;
    // Never a silently cut stream: the failure is an SSE error event.
    const err = toGatewayError(e);
    write(chunker?.error({ ...toOpenAIError(err).body, detour: { id: err.id, attempts: err.attempts.length, delivered: err.delivered ?? null } }) ?? "", true);
    res.end();
    return wastedUsd(err);
  }
}

