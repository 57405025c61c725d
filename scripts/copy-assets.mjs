// The second half of `npm run build`: what the compiled gateway reads besides
// its own modules — the generated protobuf code, the built-in config and the
// dashboard's static files — copied next to it in dist/.
import { cpSync } from "node:fs";

cpSync("gen", "dist/gen", { recursive: true, filter: (f) => !f.endsWith(".d.ts") });
cpSync("src/config/builtin.yaml", "dist/src/config/builtin.yaml");
cpSync("src/dashboard", "dist/src/dashboard", { recursive: true });
