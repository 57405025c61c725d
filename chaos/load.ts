/**
 * Steady concurrent load: a fixed number of workers, each running jobs back
 * to back until the load's end. A job is one request without a key, or one
 * Idempotency-Key sent by two or three callers at once (unary and streamed
 * mixed, so callers join a running execution), sometimes followed by a
 * repeat after they all ended (a replay of the stored result). A few
 * callers without a key go away as soon as their answer starts.
 */
import { Agent } from "undici";
import { chaosCall, type Outcome } from "./client.ts";
import { seededRandom as createRandom } from "../src/providers/simulated.ts";

/** What to drive. */
export interface LoadOptions {
  /** The gateway's base URL. */
  readonly url: string;
  /** Routes and provider/model names to spread requests over. */
  readonly models: readonly string[];
  readonly workers: number;
  /** Epoch ms after which workers start no new job. */
  readonly endAt: number;
  /** The client's own timeout per request; ending later is a hang. */
  readonly clientTimeoutMs: number;
  readonly seed: number;
  /** Makes keys unique across runs against one gateway. */
  readonly keyPrefix: string;
  /** Send every request with a key (so each can be traced upstream). */
  readonly alwaysKeyed?: boolean;
  /** Send keys more than once (concurrent copies and repeats). Default true. */
  readonly duplicates?: boolean;
  /** Let some callers without a key go away early. Default true. */
  readonly cancels?: boolean;
  /** A worker stops at its first connection error (the gateway is going away). */
  readonly stopOnConnectionError?: boolean;
}

/** Far more jobs than a worker can run in any configured duration. */
const MAX_JOBS_PER_WORKER = 100_000;

/** Runs the load; resolves with every outcome once the last request ended. */
export async function driveLoad(opts: LoadOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const record = (o: Outcome) => {
    outcomes.push(o);
    return o;
  };
  const worker = async (w: number) => {
    const random = createRandom(opts.seed * 1_000 + w);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const send = async (model: string, key: string) => {
      const stream = random() < 0.5;
      const cancelEarly = stream && !key && opts.cancels !== false && random() < 0.2;
      return record(await chaosCall({ url: opts.url, model, stream, key, timeoutMs: opts.clientTimeoutMs, dispatcher, cancelEarly }));
    };
    for (let job = 0; job < MAX_JOBS_PER_WORKER && Date.now() < opts.endAt; job++) {
      const model = pick(opts.models);
      const keyed = opts.alwaysKeyed || random() < 0.5;
      const key = keyed ? `${opts.keyPrefix}-${w}-${job}` : "";
      const twice = keyed && opts.duplicates !== false;
      const copies = twice ? 1 + Math.floor(random() * 3) : 1;
      const ended = await Promise.all(Array.from({ length: copies }, () => send(model, key)));
      if (opts.stopOnConnectionError && ended.some((o) => o.kind === "connection_error")) return;
      if (twice && random() < 0.3) {
        const again = await send(model, key);
        if (opts.stopOnConnectionError && again.kind === "connection_error") return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  } finally {
    await dispatcher.close();
  }
  return outcomes;
}
