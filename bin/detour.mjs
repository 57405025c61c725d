#!/usr/bin/env node
// Runs the compiled gateway (`npm run build` writes dist/); from a checkout
// that was never built, the TypeScript sources, which Node runs by stripping
// their types.
import { existsSync } from "node:fs";

const dist = new URL("../dist/src/bundle/main.js", import.meta.url);
await import(existsSync(dist) ? dist.href : new URL("../src/main.ts", import.meta.url).href);
