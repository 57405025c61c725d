/**
 * GET /dashboard: a static page, its scripts and uPlot, served from a fixed
 * allow-list of files that ship with the package (nothing is fetched at run
 * time, no path from the URL ever reaches the file system). The page holds no
 * data: it reads the AdminService over Connect JSON, with the admin key the
 * operator types in when gateway keys are configured, so everything it shows
 * a script can read too.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { NodeHandler } from "./listener.ts";

type Req = Parameters<NodeHandler>[0];
type Res = Parameters<NodeHandler>[1];

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

// From a subfolder of the source root, as this module and the bundle in dist/src/bundle/ both are.
const own = (name: string) => fileURLToPath(new URL(`../dashboard/${name}`, import.meta.url));
const uplot = (name: string) => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

/** URL path → file and type: the only files the dashboard serves. */
const FILES: ReadonlyMap<string, { readonly file: () => string; readonly type: string }> = new Map([
  ["/dashboard", { file: () => own("index.html"), type: HTML }],
  ["/dashboard/", { file: () => own("index.html"), type: HTML }],
  ["/dashboard/dashboard.css", { file: () => own("dashboard.css"), type: CSS }],
  ["/dashboard/main.js", { file: () => own("main.js"), type: JS }],
  ["/dashboard/api.js", { file: () => own("api.js"), type: JS }],
  ["/dashboard/format.js", { file: () => own("format.js"), type: JS }],
  ["/dashboard/panels.js", { file: () => own("panels.js"), type: JS }],
  ["/dashboard/charts.js", { file: () => own("charts.js"), type: JS }],
  ["/dashboard/uPlot.iife.min.js", { file: () => uplot("uPlot.iife.min.js"), type: JS }],
  ["/dashboard/uPlot.min.css", { file: () => uplot("uPlot.min.css"), type: CSS }],
]);

/** Headers on every dashboard response: same-origin only, no inline code, no framing. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** What the dashboard routes need. */
export interface DashboardDeps {
  /** Read per request, so a config reload turns the dashboard on or off. */
  readonly enabled: () => boolean;
}

interface Asset {
  readonly body: Buffer;
  readonly etag: string;
}

function send(res: Res, status: number, type: string, body: Buffer | string, head: boolean, extra: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries({ ...DASHBOARD_HEADERS, ...extra })) res.setHeader(k, v);
  res.setHeader("content-type", type);
  res.setHeader("content-length", Buffer.byteLength(body));
  if (head) res.end();
  else res.end(body);
}

/** Serves /dashboard and its files; returns false for every other path. */
export function dashboardRoutes(deps: DashboardDeps): (req: Req, res: Res, path: string) => boolean {
  // Read once, on first use: the files ship with the package and do not change while it runs.
  const cache = new Map<string, Promise<Asset>>();
  const load = (path: string, file: string): Promise<Asset> => {
    let asset = cache.get(path);
    if (!asset) {
      asset = readFile(file).then((body) => ({ body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` }));
      asset.catch(() => cache.delete(path));
      cache.set(path, asset);
    }
    return asset;
  };
  return (req, res, path) => {
    if (path !== "/dashboard" && !path.startsWith("/dashboard/")) return false;
    const head = req.method === "HEAD";
    if (!deps.enabled()) {
      send(res, 404, "text/plain; charset=utf-8", "The dashboard is off: set server.dashboard: true in the config, or start with --dashboard.\n", head);
      return true;
    }
    const entry = FILES.get(path);
    if (!entry) {
      send(res, 404, "text/plain; charset=utf-8", "Not found.\n", head);
      return true;
    }
    if (req.method !== "GET" && !head) {
      send(res, 405, "text/plain; charset=utf-8", "Use GET.\n", false, { allow: "GET, HEAD" });
      return true;
    }
    load(path, entry.file()).then(
      (asset) => {
        const cacheHeaders = { "cache-control": "no-cache", etag: asset.etag };
        if (req.headers["if-none-match"] === asset.etag) {
          res.statusCode = 304;
          for (const [k, v] of Object.entries({ ...DASHBOARD_HEADERS, ...cacheHeaders })) res.setHeader(k, v);
          res.end();
          return;
        }
        send(res, 200, entry.type, asset.body, head, cacheHeaders);
      },
      () => send(res, 500, "text/plain; charset=utf-8", "The dashboard's files are missing from this installation.\n", head),
    );
    return true;
  };
}
