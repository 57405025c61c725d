/**
 * Call frames of V8 profiles (CPU and sampling heap), pointed back at their
 * sources and named by package, for bench:profile and bench:alloc.
 */
import { readFile } from "node:fs/promises";
import { SourceMap } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** A V8 profile's call frame. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** A short place for a URL: the path inside node_modules, dist/ or src/. */
export const where = (url: string) => url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*?\/dist\//, "").replace(/^file:\/\/.*?\/src\//, "src/");

/** The package a URL belongs to. */
export const pkg = (url: string) => {
  if (!url) return "(V8 and native: syscalls, GC)";
  if (url.startsWith("node:")) return "node";
  const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  return m ? m[1]! : url.includes("/gen/") ? "gen (protobuf code)" : "own code (Detour's src/, the floor's floor-proxy.ts)";
};

/**
 * Points frames of a bundled script at their sources (the bundle's linked
 * source map), so that time or memory is put down to the package it came
 * from, not to the one file all of it was bundled into. Rewrites in place.
 */
export async function unbundle(frames: Iterable<CallFrame>): Promise<void> {
  const maps = new Map<string, { map: SourceMap; dir: string } | null>();
  for (const f of frames) {
    if (!f.url.startsWith("file://") || !f.url.endsWith(".js")) continue;
    if (!maps.has(f.url)) {
      const file = fileURLToPath(f.url);
      const payload = await readFile(`${file}.map`, "utf8").then((t) => JSON.parse(t) as ConstructorParameters<typeof SourceMap>[0], () => null);
      maps.set(f.url, payload ? { map: new SourceMap(payload), dir: dirname(file) } : null);
    }
    const m = maps.get(f.url);
    const e = m?.map.findEntry(f.lineNumber, f.columnNumber);
    if (!m || !e || !("originalSource" in e) || !e.originalSource) continue;
    f.url = pathToFileURL(resolve(m.dir, e.originalSource)).href;
    f.lineNumber = e.originalLine;
    f.columnNumber = e.originalColumn;
  }
}
