/**
 * API keys: from an environment variable or a file (a mounted secret), read
 * once when the provider is built. A key is only ever put in an upstream
 * request header; it never reaches a log, a span or an error.
 */
import { readFileSync } from "node:fs";
import type { ApiKey } from "../../gen/detour/v1/config_pb.js";
import { ConfigError } from "../config/error.ts";

/** Resolves a configured key, or the first of `defaults` set in the environment. */
export function resolveKey(
  provider: string,
  key: ApiKey | undefined,
  defaults: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  switch (key?.source.case) {
    case "env": {
      const v = env[key.source.value];
      if (!v) throw new ConfigError(`provider "${provider}"`, [`api_key.env: $${key.source.value} is not set; set it in the gateway's environment, or name the variable that holds the key`]);
      return v.trim();
    }
    case "file":
      try {
        return readFileSync(key.source.value, "utf8").trim();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "error";
        throw new ConfigError(`provider "${provider}"`, [`api_key.file: cannot read "${key.source.value}" (${code}); check the path, or mount the key file there`]);
      }
    default:
      for (const name of defaults) if (env[name]) return env[name]?.trim();
      return undefined;
  }
}
