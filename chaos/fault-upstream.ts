/**
 * A fault-injecting OpenAI Chat Completions upstream for the chaos suite, on
 * 127.0.0.1. It answers JSON and SSE in OpenAI's wire format, and the current
 * phase — switchable while load runs — decides per call and per model what
 * goes wrong: 503 bursts, 429s with Retry-After, connection resets before or
 * after the headers, hangs, streams cut mid-way, malformed JSON or SSE data,
 * and slow-loris bodies that trickle a byte at a time.
 *
 * It records every call by the request ID the gateway forwards
 * (X-Client-Request-Id), and when the last one started, so the suite can
 * tell whether a request was executed again after it had been answered.
 */
import { once } from "node:events";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { seededRandom as createRandom } from "../src/providers/simulated.ts";

/** What can go wrong with one upstream call. */
export const FAULT_KINDS = [
  "unavailable",
  "rate_limit",
  "reset_before_headers",
  "reset_after_headers",
  "hang",
  "drop_mid_stream",
  "malformed",
  "slow_loris",
] as const;

/** A kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A model's faults in a phase: each kind's probability per call; the rest answer normally. */
export type ModelFaults = Partial<Record<FaultKind, number>>;

/** A fault phase: faults by model name; models it does not name answer normally. */
export interface Phase {
  readonly name: string;
  readonly models: Readonly<Record<string, ModelFaults>>;
}

/** The calls the upstream saw for one request ID. */
export interface KeyRecord {
  /** Calls received. */
  calls: number;
  /** When the last call arrived (epoch ms). */
  lastCallAt: number;
}

/** Options of the upstream. */
export interface FaultUpstreamOptions {
  /** Seed of the fault dice. */
  readonly seed?: number;
  /** Content chunks per answer. Default 6. */
  readonly chunks?: number;
  /** Pause between chunks (and before a JSON answer). Default 2 ms. */
  readonly chunkDelayMs?: number;
  /** The Retry-After of 429s, in seconds. Default 1. */
  readonly retryAfterSeconds?: number;
  /** Pause between slow-loris bytes. Default 30 ms. */
  readonly lorisByteMs?: number;
}

/** A running upstream. */
export interface FaultUpstream {
  /** The provider's base_url. */
  readonly baseUrl: string;
  /** Switches every later call to `phase`'s faults. */
  setPhase(phase: Phase): void;
  /** Calls by the request ID the gateway forwarded. */
  readonly keys: ReadonlyMap<string, KeyRecord>;
  /** Calls by what the upstream did ("ok" for a normal answer). */
  readonly served: Readonly<Record<FaultKind | "ok", number>>;
  /** Forgets the calls recorded so far (their keys), keeping the counts. */
  forget(): void;
  /** Calls whose response is still open. */
  inFlight(): number;
  /** Resolves once at least `n` calls are open at the same time. */
  whenInFlight(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A phase without faults. */
export const HEALTHY: Phase = { name: "healthy", models: {} };

const CALM = Object.fromEntries([...FAULT_KINDS, "ok"].map((k) => [k, 0])) as Record<FaultKind | "ok", number>;

function errorBody(message: string, type: string, code: string | null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

/** The SSE frames and the JSON body of a normal answer. */
function answer(model: string, chunks: number, includeUsage: boolean) {
  const base = { id: "chatcmpl-chaos", created: 1_760_000_000, model, system_fingerprint: "fp_chaos" };
  const words = Array.from({ length: chunks }, (_, i) => `w${i} `);
  const usage = { prompt_tokens: 7, completion_tokens: chunks, total_tokens: 7 + chunks };
  const frame = (delta: unknown, finish: string | null = null) =>
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  const frames = [frame({ role: "assistant", content: "" }), ...words.map((w) => frame({ content: w })), frame({}, "stop")];
  if (includeUsage) frames.push(`data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage })}\n\n`);
  frames.push("data: [DONE]\n\n");
  const json = JSON.stringify({
    ...base,
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: words.join("").trim(), refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage,
  });
  return { frames, json };
}

/** The request's JSON body; {} when it is not JSON or the upload broke off. */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of req) chunks.push(c as Buffer);
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Starts the upstream on 127.0.0.1:0. */
export async function startFaultUpstream(opts: FaultUpstreamOptions = {}): Promise<FaultUpstream> {
  const random = createRandom(opts.seed ?? 1);
  const chunks = opts.chunks ?? 6;
  const delayMs = opts.chunkDelayMs ?? 2;
  const lorisMs = opts.lorisByteMs ?? 30;
  const retryAfter = String(opts.retryAfterSeconds ?? 1);
  let phase = HEALTHY;
  const keys = new Map<string, KeyRecord>();
  const served = { ...CALM };
  let open = 0;
  const waiters: { n: number; resolve: () => void }[] = [];

  const pick = (model: string): FaultKind | "ok" => {
    const faults = phase.models[model] ?? {};
    let roll = random();
    for (const kind of FAULT_KINDS) {
      roll -= faults[kind] ?? 0;
      if (roll < 0) return kind;
    }
    return "ok";
  };

  // A fault of the harness itself must not pass for the gateway's unhandled rejection.
  const server = http.createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  server.keepAliveTimeout = 65_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    open++;
    for (const w of waiters.filter((w) => open >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    // Every timer of this response stops when its connection goes away.
    const gone = new AbortController();
    res.on("close", () => {
      open--;
      gone.abort();
    });
    const body = await readBody(req);
    const header = req.headers["x-client-request-id"];
    const key = (Array.isArray(header) ? header[0] : header) ?? "";
    const record = keys.get(key) ?? { calls: 0, lastCallAt: 0 };
    keys.set(key, record);
    record.calls++;
    record.lastCallAt = Date.now();
    const model = typeof body["model"] === "string" ? body["model"] : "unknown";
    const streaming = body["stream"] === true;
    const options = body["stream_options"] as { include_usage?: boolean } | undefined;
    const kind = pick(model);
    served[kind]++;
    const { frames, json } = answer(model, chunks, options?.include_usage === true);
    const contentType = streaming ? "text/event-stream" : "application/json";
    const pause = (ms: number) => sleep(ms, undefined, { signal: gone.signal }).then(() => true, () => false);
    const cut = () => res.socket?.destroy();
    /** Writes frames at the normal pace; false if the client went away. */
    const play = async (list: string[]) => {
      for (const f of list) {
        if (!(await pause(delayMs))) return false;
        res.write(f);
      }
      return true;
    };

    switch (kind) {
      case "unavailable":
        res.writeHead(503, { "content-type": "application/json" });
        res.end(errorBody("chaos: the service is unavailable", "server_error", null));
        return;
      case "rate_limit":
        res.writeHead(429, { "content-type": "application/json", "retry-after": retryAfter });
        res.end(errorBody("chaos: rate limit reached", "requests", "rate_limit_exceeded"));
        return;
      case "reset_before_headers":
        req.socket.destroy();
        return;
      case "reset_after_headers":
        res.writeHead(200, { "content-type": contentType });
        res.flushHeaders();
        setImmediate(cut);
        return;
      case "hang":
        // Holds the request open until the gateway gives up on it.
        return;
      case "drop_mid_stream": {
        if (!streaming) {
          res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(json) });
          res.write(json.slice(0, json.length >> 1));
          setImmediate(cut);
          return;
        }
        res.writeHead(200, { "content-type": contentType });
        if (await play(frames.slice(0, 1 + (chunks >> 1)))) cut();
        return;
      }
      case "malformed": {
        if (!streaming) {
          const broken = json.slice(0, json.indexOf('"message"'));
          res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(broken) });
          res.end(broken);
          return;
        }
        res.writeHead(200, { "content-type": contentType });
        const bad = 'data: {"id": "chatcmpl-chaos", "choices": [{"delta": {"content": "oops"\n\n';
        if (await play([...frames.slice(0, 2), bad, ...frames.slice(2)])) res.end();
        return;
      }
      case "slow_loris": {
        // Headers (and for a stream its first token) arrive on time; then the
        // body trickles a byte at a time.
        res.writeHead(200, { "content-type": contentType });
        const rest = streaming ? frames.slice(2).join("") : json;
        if (streaming && !(await play(frames.slice(0, 2)))) return;
        for (const byte of Buffer.from(rest)) {
          if (!(await pause(lorisMs))) return;
          res.write(Buffer.of(byte));
        }
        res.end();
        return;
      }
      case "ok": {
        if (!streaming) {
          if (!(await pause(delayMs * chunks))) return;
          res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(json) });
          res.end(json);
          return;
        }
        res.writeHead(200, { "content-type": contentType });
        if (await play(frames)) res.end();
        return;
      }
    }
  }

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    setPhase(p) {
      phase = p;
    },
    keys,
    served,
    forget: () => keys.clear(),
    inFlight: () => open,
    whenInFlight: (n) => (open >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
