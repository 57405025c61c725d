/**
 * The command line: flags, config, start, signals — nothing else.
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ServerConfigSchema, type Config } from "../gen/detour/v1/config_pb.js";
import { buildApp, SERVER_DEFAULTS } from "./app.ts";
import { watch } from "node:fs";
import { ConfigError, parseConfig } from "./config/load.ts";
import { createReloader } from "./config/reload-guard.ts";
import { resolveConfig } from "./config/source.ts";
import { startTelemetry } from "./telemetry/sdk.ts";
import { settledWithin } from "./settled-within.ts";
import { settleHeapAtStart } from "./settle-heap.ts";

const USAGE = `Usage: detour [--config FILE] [--port N] [--host ADDR] [--dashboard] [--open-public]
       detour check --route NAME [--request FILE]   (see detour check --help)

  --config FILE   YAML config (env DETOUR_CONFIG); default: the built-in simulated config
  --port N        listen port (env PORT); default: the config's, else 8080
  --host ADDR     listen address (env HOST); default: the config's, else 0.0.0.0;
                  without gateway keys, loopback only unless server.open_public
  --dashboard     serve the dashboard at /dashboard (as server.dashboard: true does)
  --open-public   without gateway keys, listen on --host anyway, not on loopback only
                  (as server.open_public: true does; for a container whose port is mapped)
  --help          show this help`;

/**
 * The longest an exit waits for telemetry to flush. OTLP's own export
 * timeout is 10 s: a collector that takes connections but never answers
 * would otherwise hold every shutdown that long, on top of the drain.
 */
const FLUSH_WAIT_MS = 3000;

/** Why the port could not be opened, and what to do about it. */
function listenProblem(e: unknown, host: string | undefined, port: number | undefined): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const where = `${host || SERVER_DEFAULTS.host}:${port ?? SERVER_DEFAULTS.port}`;
  const fix: Record<string, string> = {
    EADDRINUSE: "the address is already in use: stop what holds it, or choose another --port (or server.port)",
    EACCES: "permission denied: ports below 1024 need privileges; choose a port from 1024 up",
    EADDRNOTAVAIL: "this machine has no such address: use one of its own, or 0.0.0.0 for all",
    ENOTFOUND: "the host name does not resolve: use an address, or a name this machine can resolve",
    EAI_AGAIN: "the host name could not be resolved just now: use an address, or retry",
  };
  return `cannot listen on ${where}: ${fix[code] ?? (e instanceof Error ? e.message : String(e))}${code ? ` (${code})` : ""}`;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        dashboard: { type: "boolean" },
        "open-public": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const portText = values.port ?? process.env["PORT"];
  const port = portText === undefined || portText === "" ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    fail(`--port: "${portText}" is not a port number; give a whole number from 0 to 65535`);
  }
  let loaded;
  try {
    loaded = await resolveConfig(values.config ?? process.env["DETOUR_CONFIG"]);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  // The flag holds across reloads: each loaded config gets it again.
  const withFlags = (config: Config): Config => {
    if (values.dashboard) (config.server ??= create(ServerConfigSchema)).dashboard = true;
    if (values["open-public"]) (config.server ??= create(ServerConfigSchema)).openPublic = true;
    return config;
  };
  withFlags(loaded.config);
  const telemetry = await startTelemetry();
  let app;
  try {
    app = buildApp(loaded.config, { telemetry });
  } catch (e) {
    // A value only read when the app is built (an API key's file or variable).
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  // Before the port opens, so no request waits on it.
  settleHeapAtStart();
  const host = values.host ?? (process.env["HOST"] || undefined);
  const addr = await app.listen(port, host).catch((e: unknown) => fail(listenProblem(e, host ?? loaded.config.server?.host, port ?? (loaded.config.server?.port || undefined))));
  const routes = app.gateway.routes().map((r) => r.route);
  if (!app.auth.enabled) {
    app.logger.warn(
      "NO GATEWAY KEYS ARE CONFIGURED: anyone who can reach this port can spend your providers' credits. Add keys (sha256 hashes) under 'keys:' in the config before exposing it.",
    );
  }
  // Providers joined from API keys in the environment are in the config by now.
  if (loaded.config.providers.length === 0) {
    app.logger.warn(
      `NO PROVIDERS: ${loaded.path} configures none and no provider key is set (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY…), so every request will fail with UNKNOWN_MODEL. Add providers to the config, or set a key.`,
    );
  }
  const unpriced = app.gateway.unpriced();
  if (unpriced.length > 0) {
    app.logger.warn(
      { models: unpriced },
      `NO PRICE KNOWN for ${unpriced.join(", ")}: the catalog does not list ${unpriced.length === 1 ? "it" : "them"}, so ${unpriced.length === 1 ? "its" : "their"} cost is reported as unknown (price_unknown in the attempts trail), keys with usd_per_day are refused ${unpriced.length === 1 ? "it" : "them"}, and max_cost_usd cannot limit ${unpriced.length === 1 ? "it" : "them"}. Add pricing: under providers[].models[].`,
    );
  }
  app.logger.info(
    { address: addr.address, port: addr.port, config: loaded.builtin ? "built-in (simulated models)" : loaded.path, routes },
    `Detour listening on http://${addr.address}:${addr.port}`,
  );
  if (loaded.config.server?.dashboard) app.logger.info(`Dashboard: http://${addr.address}:${addr.port}/dashboard`);
  // Hot reload: SIGHUP, or the file changing (debounced). A bad, empty,
  // still-changing or newly open file is refused with a logged error and the
  // old config keeps serving (config/reload-guard.ts).
  const reloader = createReloader(loaded.config, { path: loaded.path, parse: (text, path) => withFlags(parseConfig(text, path)), apply: (next) => app.reload(next), logger: app.logger });
  const reload = (why: string) => reloader.reload(why);
  process.on("SIGHUP", () => void reload("SIGHUP"));
  if (!loaded.builtin) {
    let timer: NodeJS.Timeout | undefined;
    watch(loaded.path, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload("file changed"), 200);
    }).on("error", () => undefined);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, "shutting down: draining in-flight calls");
    app.shutdown().then(
      () =>
        settledWithin(telemetry.shutdown(), FLUSH_WAIT_MS).then((done) => {
          if (!done) app.logger.warn(`telemetry did not flush within ${FLUSH_WAIT_MS / 1000} s; its unsent spans and metrics are dropped`);
          process.exit(0);
        }),
      (e: unknown) => {
        app.logger.error({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

const entry = process.argv[2] === "check"
  ? import("./check/command.ts").then(async ({ checkCommand }) => process.exit(await checkCommand(process.argv.slice(3))))
  : main();

entry.catch((e: unknown) => {
  process.stderr.write(`detour: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
