/**
 * Run with --expose-gc by memory-heap.test.ts: fills a memory store through
 * the engine with streamed answers under max_bytes, and prints how much the
 * heap grew as JSON.
 */
import { parseConfig } from "../../src/config/load.ts";
import { createGateway } from "../../src/gateway/gateway.ts";
import { createMemoryStore } from "../../src/idempotency/memory.ts";
import { createProviders } from "../../src/providers/registry.ts";
import { userRequest } from "../helpers/requests.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const MAX_BYTES = Number(process.argv[2] ?? 4 << 20);
const RECORDS = Number(process.argv[3] ?? 4000);

const config = parseConfig(
  `breaker: { disabled: true }
providers:
  - name: sim
    simulated: { models: [{ name: lorem, output: { kind: lorem, words: 12 } }] }`,
  "heap.yaml",
  { env: {} },
);
const store = createMemoryStore({ ttlMs: 3_600_000, maxBytes: MAX_BYTES });
const gateway = createGateway(config, { providers: createProviders(config), idempotency: store });

async function run(n: number, id: (i: number) => string): Promise<void> {
  for (let i = 0; i < n; i++) {
    for await (const batch of gateway.stream(userRequest("sim/lorem", `question ${i}`, { requestId: id(i) }), { signal: new AbortController().signal })) void batch;
  }
}

const settled = () => {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
};
// Warm up code paths and caches, with records that are dropped again.
await run(200, (i) => `warm-${i}`);
await store.close();
const before = settled();
await run(RECORDS, (i) => `request-${i}-${"x".repeat(24)}`);
const after = settled();
process.stdout.write(JSON.stringify({ maxBytes: MAX_BYTES, records: RECORDS, grewBytes: after - before }));
