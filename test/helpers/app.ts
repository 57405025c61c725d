/**
 * Starts Detour in-process on 127.0.0.1:0 from YAML text, for tests.
 */
import { buildApp, type App, type AppDeps } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/telemetry/log.js";

/** A running test instance. */
export interface TestApp {
  readonly app: App;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Builds and starts an app from YAML; logs are silent unless DEBUG is set. */
export async function startApp(yaml: string, deps: AppDeps = {}): Promise<TestApp> {
  const config = parseConfig(yaml, "test.yaml");
  const app = buildApp(config, { logger: createLogger(process.env["DEBUG"] ? "debug" : "silent"), ...deps });
  const addr = await app.listen(0, "127.0.0.1");
  return {
    app,
    port: addr.port,
    url: `http://127.0.0.1:${addr.port}`,
    close: () => app.shutdown(),
  };
}

/** A small config with one provider of simulated models. */
export const SIM_CONFIG = `
server: { drain_timeout: 2s }
breaker: { disabled: true }
providers:
  - name: sim
    simulated:
      models:
        - { name: fast, output: { kind: text, text: "hello from fast" } }
        - { name: failing, faults: [{ kind: unavailable, rate: 1 }] }
        - { name: limited, faults: [{ kind: rate_limit, rate: 1, retry_after: 3s }] }
        - { name: hanging, faults: [{ kind: hang, rate: 1 }] }
        - { name: slow, tokens_per_second: 20, output: { kind: lorem, words: 20 } }
        - { name: echo, output: { kind: echo } }
        - { name: tools, output: { kind: tool_call, tool_arguments: '{"city":"Paris","unit":"c"}' } }
routes:
  - name: default
    targets: [{ model: sim/failing }, { model: sim/fast }]
  - name: exhausted
    targets: [{ model: sim/limited }, { model: sim/limited }]
  - name: slow
    targets: [{ model: sim/slow }]
`;
