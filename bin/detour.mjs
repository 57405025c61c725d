#!/usr/bin/env node
// Detour's sources are TypeScript with erasable syntax only, which Node
// (>= 22.18) runs directly by stripping the types: no loader, no build step.
await import("../src/main.ts");
