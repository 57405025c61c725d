import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { test } from "node:test";
import { buildApp } from "../src/app.js";
import { BUILTIN_CONFIG_PATH, resolveConfig } from "../src/config/source.js";
import { createLogger } from "../src/telemetry/log.js";

const run = promisify(execFile);

test("the README's first call, against the built-in config, shows a fallback", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const call = /```sh\n(npx buf curl --protocol grpc[^`]*?\/Complete)\n```/.exec(readme)?.[1];
  assert.ok(call, "the README shows a buf curl call to Complete");
  const data = /--data '([^']+)'/.exec(call)?.[1];
  assert.ok(data);

  const { config, path } = await resolveConfig(undefined);
  assert.equal(path, BUILTIN_CONFIG_PATH);
  const app = buildApp(config, { logger: createLogger("silent") });
  const { port } = await app.listen(0, "127.0.0.1");
  try {
    const bin = new URL("../node_modules/.bin/buf", import.meta.url).pathname;
    const { stdout } = await run(bin, [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--data", data,
      `http://127.0.0.1:${port}/detour.v1.GatewayService/Complete`,
    ]);
    const res = JSON.parse(stdout) as { attempts: { outcome: string; decision: string }[]; message: { content: { text: string }[] } };
    assert.equal(res.attempts.length, 2);
    assert.equal(res.attempts[0]?.outcome, "ATTEMPT_OUTCOME_FAILED");
    assert.equal(res.attempts[0]?.decision, "DECISION_FALLBACK");
    assert.equal(res.attempts[1]?.outcome, "ATTEMPT_OUTCOME_SUCCEEDED");
    assert.equal(res.message.content[0]?.text, "You said: Hello, Detour");
  } finally {
    await app.shutdown();
  }
});
