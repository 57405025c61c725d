/**
 * Where the config comes from: a file named by --config or DETOUR_CONFIG, or
 * the built-in simulated config when neither is given.
 */
import { fileURLToPath } from "node:url";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { loadConfigFile } from "./load.ts";

/**
 * The path of the built-in config. Addressed from the source root's
 * subfolders, as the bundle in dist/src/bundle/ is, so both find it.
 */
export const BUILTIN_CONFIG_PATH = fileURLToPath(new URL("../config/builtin.yaml", import.meta.url));

/** Loads the named config file, or the built-in one. */
export async function resolveConfig(path: string | undefined): Promise<{ config: Config; path: string; builtin: boolean }> {
  const file = path || BUILTIN_CONFIG_PATH;
  return { config: await loadConfigFile(file), path: file, builtin: !path };
}
