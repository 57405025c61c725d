/**
 * The memory store's max_bytes holds in heap terms: filled through the
 * engine with far more records than fit, the heap grows by no more than
 * max_bytes. It counted text lengths only before, and grew about four
 * times past its bound.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const CHILD = new URL("./memory-heap-child.ts", import.meta.url).pathname;
const MAX_BYTES = 4 << 20;

test("4,000 streamed answers under max_bytes 4 MiB grow the heap by at most 4 MiB", { timeout: 60_000 }, async () => {
  // A child of its own with --expose-gc, so a full GC settles the heap before each reading.
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "--import", "tsx", CHILD, String(MAX_BYTES), "4000"], { cwd: new URL("../..", import.meta.url).pathname });
  const { grewBytes } = JSON.parse(stdout) as { grewBytes: number };
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  assert.ok(grewBytes <= MAX_BYTES * 1.1, `the heap grew ${mib(grewBytes)}, over max_bytes ${mib(MAX_BYTES)}`);
  // The store did keep records up to its bound: the test is not vacuous.
  assert.ok(grewBytes >= MAX_BYTES * 0.4, `the heap grew only ${mib(grewBytes)}: were records kept?`);
});
