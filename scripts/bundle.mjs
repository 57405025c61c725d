// The last step of `npm run build`: the compiled gateway (dist/src, from tsc)
// bundled into one module, dist/src/bundle/main.js, which `npm start` and the
// Docker image run. Some 800 modules loaded one by one cost Detour ~20–30 MB
// of idle RSS (their module records, source text, and a young generation
// grown by the start-up's allocations); one module does not.
//
// The bundle sits one directory below dist/src, as every module that reads a
// file shipped beside the code does (config/source.ts, server/dashboard.ts),
// so their paths relative to import.meta.url hold in both layouts.
//
// Left out and loaded from node_modules as before: what is imported only on
// demand (the OpenTelemetry SDK and OTLP exporters, with an endpoint set;
// redis, with a Redis URL), so a start without them never reads their code.
import { build } from "esbuild";

const outfile = process.argv[2] ?? "dist/src/bundle/main.js";

await build({
  entryPoints: ["dist/src/main.js"],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  // Names kept for readable stack traces (the map leads back to dist/src);
  // comments and spaces dropped and the licence comments moved to
  // main.js.LEGAL.txt, which leaves the code ASCII, held by V8 in one byte a
  // character instead of two.
  minifyWhitespace: true,
  legalComments: "linked",
  sourcemap: "linked",
  external: ["@opentelemetry/sdk-node", "@opentelemetry/exporter-metrics-otlp-grpc", "@opentelemetry/exporter-metrics-otlp-proto", "redis", "uplot"],
  // CommonJS dependencies (undici, pino, …) call require() for Node's modules.
  banner: { js: 'import { createRequire as __detourRequire } from "node:module";\nconst require = __detourRequire(import.meta.url);' },
  logLevel: "warning",
});
