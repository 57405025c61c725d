/**
 * Preloaded (`--import`) into a process that bench:alloc measures: each
 * SIGUSR2 toggles V8's sampling heap profiler, counting objects the GC has
 * already collected too (what was allocated, not what is still held); on
 * stop it writes the profile to ALLOC_OUT-<n>.json (whole: written aside,
 * then renamed).
 */
import { renameSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");
let on = false;
let n = 0;
process.on("SIGUSR2", () => {
  on = !on;
  void (on
    ? session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    : session.post("HeapProfiler.stopSampling").then(({ profile }) => {
        const file = `${process.env["ALLOC_OUT"]}-${++n}.json`;
        writeFileSync(`${file}.part`, JSON.stringify(profile));
        renameSync(`${file}.part`, file);
      }));
});
