#!/usr/bin/env node
// Runs Detour's TypeScript sources through tsx, so `npx detour …` works.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
