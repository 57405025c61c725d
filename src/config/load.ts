/**
 * Config loading: YAML text → normalised JSON → the Config message →
 * protovalidate rules → cross-reference checks. Any problem stops the load
 * with every finding listed by field path, so a bad file never half-applies.
 */
import { readFile } from "node:fs/promises";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { parseDocument } from "yaml";
import { ConfigSchema, type Config } from "../../gen/detour/v1/config_pb.js";
import { addAutoProviders } from "./auto-providers.ts";
import { checkReferences } from "./references.ts";
import { ConfigError } from "./error.ts";

export { ConfigError };
import { normalizeForMessage } from "./normalize.ts";
import { apiKeyFix, isSecretPath } from "./withheld.ts";


const validator = createValidator();

/** Options of parsing. */
export interface ParseOptions {
  /** Where auto providers look for API keys. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Parses and validates config text; `source` names it in errors. */
export function parseConfig(text: string, source: string, opts: ParseOptions = {}): Config {
  // stringKeys: a config's keys are names; a list or mapping as a key is a
  // mistake, and converting one to text takes time exponential in its nesting.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, stringKeys: true });
  if (doc.errors.length > 0) {
    // Nesting too deep for the parser's stack is reported once per level it unwinds: say it once.
    const deep = doc.errors.find((e) => e.code === "RESOURCE_EXHAUSTION");
    if (deep) throw new ConfigError(source, [`YAML: nested too deeply at line ${deep.linePos?.[0].line ?? 1}`]);
    throw new ConfigError(source, doc.errors.map((e) => yamlProblem(e.message, e.linePos?.[0].line)));
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // The yaml package refuses aliases that expand too far ("billion laughs").
    throw new ConfigError(source, [yamlProblem(e instanceof Error ? e.message : String(e), undefined)]);
  }
  // An empty file is a save caught half-way or a mistake, never a config: read
  // as one, it drops every key and route and opens the gateway.
  if (data === null || data === undefined) {
    throw new ConfigError(source, ["(top level): the file is empty (or only comments): write the config into it, or start without --config for the built-in simulated one"]);
  }
  const { json, problems } = normalizeForMessage(ConfigSchema, data);
  if (problems.length > 0) throw new ConfigError(source, problems);
  let config: Config;
  try {
    config = fromJson(ConfigSchema, json as JsonValue);
  } catch (e) {
    throw new ConfigError(source, [withheldInDecodeError(e instanceof Error ? e.message : String(e))]);
  }
  const result = validator.validate(ConfigSchema, config);
  if (result.kind === "error") throw new ConfigError(source, [result.error.message]);
  if (result.kind === "invalid") {
    throw new ConfigError(
      source,
      result.error.violations.map((v) => {
        const path = pathToString(v.field) || "(top level)";
        // An env "name" that is not a name is most likely the key itself.
        return path.endsWith("api_key.env") ? `${path}: is not a variable name (letters, digits and _; the value is withheld, as it may be the key itself); ${apiKeyFix(path)}` : `${path}: ${v.message}`;
      }),
    );
  }
  addAutoProviders(config, opts.env ?? process.env);
  const refProblems = checkReferences(config);
  if (refProblems.length > 0) throw new ConfigError(source, refProblems);
  return config;
}

/**
 * A YAML parser's message without the source text it may quote after a
 * colon (an alias's name, which can be a pasted key), with its line.
 */
function yamlProblem(message: string, line: number | undefined): string {
  const head = message.split("\n")[0] ?? "";
  const cut = head.replace(/: (?!.*\bat line \d+).*$/, "");
  return `YAML: ${cut}${cut !== head && line !== undefined ? ` at line ${line}` : ""}`;
}

/** protobuf's decode error quotes the value; a secret field's is withheld. */
function withheldInDecodeError(message: string): string {
  const field = /field ([\w.]+) from JSON/.exec(message)?.[1] ?? "";
  return isSecretPath(field) ? message.replace(/from JSON: .*/s, "from JSON: the value is withheld (the field may hold a secret)") : message;
}

/** Reads a config file's text; throws a ConfigError that says what to check. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(path, [`cannot read the file (${code}): check the path given to --config or DETOUR_CONFIG`]);
  }
}

/** Reads, parses and validates a config file. */
export async function loadConfigFile(path: string, opts: ParseOptions = {}): Promise<Config> {
  return parseConfig(await readConfigText(path), path, opts);
}
