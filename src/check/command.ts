/**
 * The `detour check` command line: flags in, a table out, exit code 0 only
 * when every target honours the request.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { CompleteRequestSchema, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import { ConfigError } from "../config/load.ts";
import { resolveConfig } from "../config/source.ts";
import { durationOr } from "../config/duration.ts";
import { createPlanner } from "../gateway/plan.ts";
import { createProviders } from "../providers/registry.ts";
import { checkRoute, defaultProbe, formatRows } from "./check.ts";

const USAGE = `Usage: detour check --route NAME [--request FILE] [--config FILE] [--timeout 30s]

Sends one probe to every target of the route, each on its own, and prints
which targets honour it. --request is a CompleteRequest in JSON (the body
you would send to Complete; its "model" is ignored), so the probe can carry
your production tools, JSON schema and sampling parameters.`;

/** Runs the command; returns the process exit code. */
export async function checkCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { route: { type: "string" }, request: { type: "string" }, config: { type: "string" }, timeout: { type: "string" }, help: { type: "boolean" } },
      strict: true,
    }));
  } catch (e) {
    out(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help || !values.route) {
    out(values.help ? `${USAGE}\n` : `--route: required: name the route to check\n\n${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  try {
    const { config } = await resolveConfig(values.config ?? process.env["DETOUR_CONFIG"]);
    const providers = createProviders(config);
    const planner = createPlanner(config, providers, 60_000);
    const plan = planner.routes().find((p) => p.route === values.route);
    if (!plan) {
      out(`--route: no route named "${values.route}"; routes: ${planner.routes().map((p) => p.route).join(", ") || "none"}\n`);
      return 2;
    }
    const probe = values.request ? await readProbe(values.request) : defaultProbe();
    const rows = await checkRoute(plan, probe, providers, durationOr(values.timeout ?? "", 30_000));
    out(formatRows(plan.route, rows));
    await Promise.all([...providers.values()].map((p) => p.close?.()));
    return rows.every((r) => r.ok) ? 0 : 1;
  } catch (e) {
    out(`${e instanceof ConfigError || e instanceof ProbeError ? e.message : String(e)}\n`);
    return 2;
  }
}

class ProbeError extends Error {}

async function readProbe(path: string): Promise<CompleteRequest> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new ProbeError(`--request: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    return fromJson(CompleteRequestSchema, { model: "probe", ...(JSON.parse(text) as object) } as JsonValue);
  } catch (e) {
    throw new ProbeError(`--request: ${path} is not a CompleteRequest in JSON: ${(e as Error).message}`);
  }
}
