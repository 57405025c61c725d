import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { settleHeap } from "../src/settle-heap.ts";

const youngMb = () => (v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.physical_space_size ?? NaN) / 1048576;

test("settling the heap hands back the young generation that start-up grew, and exposes no gc", () => {
  // What loading a config and registries does: many objects kept alive through
  // young collections, which grow the young generation.
  let kept: number[][] = [];
  for (let i = 0; i < 200_000; i++) kept.push([i, i, i, i, i, i, i, i]);
  const grown = youngMb();
  assert.ok(grown >= 4, `precondition: the young generation grew (${grown.toFixed(1)} MB)`);
  kept = [];
  assert.equal(settleHeap(), true);
  const settled = youngMb();
  assert.ok(settled < grown / 2, `the young generation went from ${grown.toFixed(1)} to ${settled.toFixed(1)} MB`);
  assert.equal(kept.length, 0);
  // The flag it needs is set back: no context, the main one or a new one, gets a global gc.
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(vm.runInNewContext("typeof gc"), "undefined");
});
