/**
 * The client side of the benchmark: each function drives one column (a
 * server reachable on a port) and returns raw samples. Bounded loops only.
 */
import { Pool } from "undici";

/** What a request is meant to exercise; each column maps it to its own route/config. */
export type Scenario = "ok" | "fail-503" | "fail-429" | "hang" | "cut" | "drip" | "long" | "open-breaker";

/** How to call one column. */
export interface Column {
  readonly name: string;
  readonly port: number;
  /** Path, headers and body for a scenario. */
  call(scenario: Scenario, stream: boolean): { path: string; headers: Record<string, string>; body: string };
}

/** A chat body for `model`. */
export const chatBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, messages: [{ role: "user", content: "Say hello" }] });

/** A call to an OpenAI-compatible endpoint that takes the model by name (all columns but Portkey's). */
export const plainCall = (scenario: Scenario, stream: boolean) => ({ path: "/v1/chat/completions", headers: {}, body: chatBody(scenario, stream) });

/** The p-th percentile (nearest rank). */
export function pct(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function one(pool: Pool, col: Column, scenario: Scenario, stream: boolean, t0: number, signal?: AbortSignal): Promise<{ status: number; total: number; ttft: number }> {
  const { path, headers, body } = col.call(scenario, stream);
  const res = await pool.request({ path, method: "POST", headers: { "content-type": "application/json", ...headers }, body, ...(signal ? { signal } : {}) });
  let ttft = NaN;
  for await (const c of res.body) {
    if (Number.isNaN(ttft) && (!stream || String(c).includes('"content":"word'))) ttft = performance.now() - t0;
  }
  return { status: res.statusCode, total: performance.now() - t0, ttft };
}

/** Latencies of a run of requests. */
export interface Sequence {
  readonly total: number[];
  readonly ttft: number[];
  failed: number;
}

/** `n` requests one after another on one keep-alive connection. */
export async function sequential(col: Column, scenario: Scenario, n: number, stream = false): Promise<Sequence> {
  return (await interleaved([col], n, stream, scenario)).get(col.name)!;
}

/**
 * `n` rounds of one request to each column in turn (the order rotating),
 * each column on its own keep-alive connection: every column's latencies
 * come from the same minutes, so the machine's drift cancels out of the
 * differences between them.
 */
export async function interleaved(cols: readonly Column[], n: number, stream: boolean, scenario: Scenario = "ok"): Promise<Map<string, Sequence>> {
  const pools = cols.map((c) => new Pool(`http://127.0.0.1:${c.port}`, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const out = new Map<string, Sequence>(cols.map((c) => [c.name, { total: [], ttft: [], failed: 0 }]));
  try {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < cols.length; k++) {
        const j = (i + k) % cols.length;
        const col = cols[j]!;
        const r = await one(pools[j]!, col, scenario, stream, performance.now());
        const o = out.get(col.name)!;
        if (r.status !== 200) o.failed++;
        o.total.push(r.total);
        o.ttft.push(r.ttft);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return out;
}

/**
 * How much longer `scenario` takes than "ok" at each column, p50 against p50:
 * a pair (ok, then `scenario`) per column in turn, the order rotating, each
 * column on its own keep-alive connection, so that drift in the machine
 * cancels out of the difference and of the comparison between columns.
 */
export async function beyondHealthy(cols: readonly Column[], scenario: Scenario, n: number): Promise<Map<string, number | string>> {
  const pools = cols.map((c) => new Pool(`http://127.0.0.1:${c.port}`, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const runs = cols.map(() => ({ ok: [] as number[], other: [] as number[], failed: 0 }));
  try {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < cols.length; k++) {
        const j = (i + k) % cols.length;
        const run = runs[j]!;
        run.ok.push((await one(pools[j]!, cols[j]!, "ok", false, performance.now())).total);
        const r = await one(pools[j]!, cols[j]!, scenario, false, performance.now());
        if (r.status !== 200) run.failed++;
        run.other.push(r.total);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return new Map(cols.map((c, j) => {
    const run = runs[j]!;
    return [c.name, run.failed > 0 ? `${run.failed} of ${n} failed` : pct(run.other, 50) - pct(run.ok, 50)];
  }));
}

/**
 * How much longer a hung first target makes a request than a healthy answer,
 * p50 against p50. A hang leaves every process on the path (client, gateway,
 * upstream) idle for the threshold, and on this VM a process woken from
 * 20–100 ms of idle answers slower: direct to the mock 0.41–0.47 ms back to
 * back, 0.89–1.39 after the pause; the floor proxy 1.39–1.44 and 2.24–2.72
 * (.scratch/cold.ts). So the healthy answer the hang is set against comes
 * after a pause as long as the threshold (`paused`); the difference from a
 * healthy answer sent straight after the previous one is kept too (`warm`).
 */
export async function hangBeyondHealthy(cols: readonly Column[], scenario: Scenario, n: number, pauseMs: number): Promise<Map<string, { paused: number | string; warm: number | string }>> {
  const pools = cols.map((c) => new Pool(`http://127.0.0.1:${c.port}`, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const runs = cols.map(() => ({ warm: [] as number[], paused: [] as number[], hung: [] as number[], failed: 0 }));
  try {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < cols.length; k++) {
        const j = (i + k) % cols.length;
        const [pool, col, run] = [pools[j]!, cols[j]!, runs[j]!];
        // Not timed: the first request after a hang may open a new upstream
        // connection (undici's pool hands it to the client whose socket the
        // hang's abort closed).
        await one(pool, col, "ok", false, performance.now());
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        run.paused.push((await one(pool, col, "ok", false, performance.now())).total);
        run.warm.push((await one(pool, col, "ok", false, performance.now())).total);
        const r = await one(pool, col, scenario, false, performance.now());
        if (r.status !== 200) run.failed++;
        run.hung.push(r.total);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return new Map(cols.map((c, j): [string, { paused: number | string; warm: number | string }] => {
    const run = runs[j]!;
    if (run.failed > 0) return [c.name, { paused: `${run.failed} of ${n} failed`, warm: `${run.failed} of ${n} failed` }];
    return [c.name, { paused: pct(run.hung, 50) - pct(run.paused, 50), warm: pct(run.hung, 50) - pct(run.warm, 50) }];
  }));
}

/**
 * An open-loop load at a fixed rate: request i is due at t0 + i/rate and its
 * latency counts from then, so a stall shows up instead of slowing the load.
 */
export async function fixedRate(col: Column, rate: number, ms: number, over?: Pool): Promise<{ total: number[]; failed: number }> {
  const pool = over ?? ratePool(col);
  const n = Math.floor((rate * ms) / 1000);
  const start = performance.now() + 20;
  const total: number[] = [];
  let failed = 0;
  const runs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    runs.push(
      // Timed from when it was due, so a send held up counts its wait (no
      // coordinated omission), or from the send if it went early (wait ≤ 1 ms).
      one(pool, col, "ok", false, Math.min(due, performance.now())).then(
        (r) => {
          if (r.status !== 200) failed++;
          total.push(r.total);
        },
        () => void failed++,
      ),
    );
  }
  await Promise.all(runs);
  if (!over) await pool.close();
  return { total, failed };
}

/** The connections fixedRate loads `col` over, to keep across several runs. */
export function ratePool(col: Column): Pool {
  return new Pool(`http://127.0.0.1:${col.port}`, { connections: 64, headersTimeout: 10_000, bodyTimeout: 10_000 });
}

/** As many requests (of `scenario`) as `connections` keep-alive connections carry in `ms`. */
export async function closedLoop(col: Column, connections: number, ms: number, stream = false, scenario: Scenario = "ok"): Promise<{ ok: number; failed: number }> {
  const pool = new Pool(`http://127.0.0.1:${col.port}`, { connections, headersTimeout: 10_000, bodyTimeout: 10_000 });
  let ok = 0;
  let failed = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const r = await one(pool, col, scenario, stream, performance.now()).catch(() => ({ status: 0 }));
        if (r.status === 200) ok++;
        else failed++;
      }
    }),
  );
  await pool.close();
  return { ok, failed };
}

/**
 * Opens `n` slow streams and resolves once every one has delivered its first
 * word, with a function that closes them all.
 */
export async function openStreams(col: Column, n: number): Promise<{ opened: number; close: () => Promise<void> }> {
  const pool = new Pool(`http://127.0.0.1:${col.port}`, { connections: n });
  const ctl = new AbortController();
  let opened = 0;
  const firsts: Promise<void>[] = [];
  const bodies: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const { path, headers, body } = col.call("drip", true);
    firsts.push(
      new Promise<void>((resolve) => {
        const run = pool.request({ path, method: "POST", headers: { "content-type": "application/json", ...headers }, body, signal: ctl.signal }).then(async (res) => {
          let first = true;
          for await (const c of res.body) {
            if (first && String(c).includes('"content":"word')) {
              first = false;
              opened++;
              resolve();
            }
          }
          resolve();
        });
        bodies.push(run.catch(() => resolve()));
      }),
    );
  }
  await Promise.race([Promise.all(firsts), new Promise((r) => setTimeout(r, 20_000))]);
  return {
    opened,
    close: async () => {
      ctl.abort();
      await Promise.allSettled(bodies);
      await pool.destroy();
    },
  };
}

/** What a client sees when the upstream cuts a stream half-way. */
export async function cutStream(col: Column): Promise<string> {
  const { path, headers, body } = col.call("cut", true);
  try {
    const res = await fetch(`http://127.0.0.1:${col.port}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const text = await res.text();
    if (res.status !== 200) return `HTTP ${res.status} before the stream started`;
    if (text.includes("event: error") || /"error"\s*:/.test(text)) return "an error event in the stream";
    if (text.includes("[DONE]")) return "a clean end ([DONE]): the cut is hidden";
    return "the stream stops without [DONE] or an error";
  } catch {
    return "the connection is reset (no error message)";
  }
}
