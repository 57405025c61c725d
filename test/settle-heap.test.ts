import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { settleHeap, settleHeapAtStart } from "../src/settle-heap.ts";

const youngMb = () => (v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.physical_space_size ?? NaN) / 1048576;

test("settling the heap hands back the young generation that start-up grew, and exposes no gc", () => {
  // What loading a config and registries does: many objects kept alive through
  // young collections, which grow the young generation.
  const kept: number[][] = [];
  for (let i = 0; i < 200_000; i++) kept.push([i, i, i, i, i, i, i, i]);
  const grown = youngMb();
  assert.ok(grown >= 4, `precondition: the young generation grew (${grown.toFixed(1)} MB)`);
  kept.length = 0;
  assert.equal(settleHeap(), true);
  const settled = youngMb();
  assert.ok(settled < grown / 2, `the young generation went from ${grown.toFixed(1)} to ${settled.toFixed(1)} MB`);
  // The flag it needs is set back: no context, the main one or a new one, gets a global gc.
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(vm.runInNewContext("typeof gc"), "undefined");
});

test("start-up settles the heap only where V8's memory reducer is off", () => {
  // Without --no-memory-reducer the settle would start the reducer, whose idle collections cost the next burst.
  assert.equal(settleHeapAtStart(["--max-semi-space-size=16"]), false);
  assert.equal(settleHeapAtStart(["--max-semi-space-size=16", "--no-memory-reducer"]), true);
});
