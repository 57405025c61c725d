/**
 * Handing back the memory start-up used and no longer needs, once, before the
 * gateway listens.
 *
 * Loading the config, the model catalog and the protobuf, protovalidate and
 * OpenTelemetry registries keeps ~15 MB alive through V8's young generation,
 * which grows it to its cap (16 MB with `npm start`'s flags) and keeps it
 * there while the process idles: V8 shrinks it only in a GC run to reduce
 * memory, which nothing starts in an idle Node process. One such collection
 * (the "last-resort" flavour of V8's `gc()`: a full, compacting collection
 * that also releases the young generation's unused pages) takes ~45 ms here,
 * before a single request is accepted. Under load the young generation grows
 * back as the work needs it.
 *
 * Only with `--no-memory-reducer` (as `npm start` and the image run): that
 * collection also starts V8's memory reducer, which then runs collections of
 * its own whenever the process idles a few seconds, and the next burst of
 * load pays for them (about twice the CPU per request for seconds; README,
 * Performance). Without the flag, start-up leaves the heap as it is.
 */
import v8 from "node:v8";
import vm from "node:vm";

type GcOptions = { type: "major"; execution: "sync"; flavor: "last-resort" };

/** Settles the heap if the process runs without V8's memory reducer; true if it did. */
export function settleHeapAtStart(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.includes("--no-memory-reducer") && settleHeap();
}

/** Runs one memory-reducing full GC. Returns false where the runtime offers none. */
export function settleHeap(): boolean {
  // `--expose-gc` only touches contexts created while it is set: the function
  // is taken from a throwaway context, and the main one never gets a global `gc`.
  v8.setFlagsFromString("--expose-gc");
  let gc: unknown;
  try {
    gc = vm.runInNewContext("typeof gc === 'function' ? gc : undefined");
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
  if (typeof gc !== "function") return false;
  (gc as (o: GcOptions) => void)({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}
