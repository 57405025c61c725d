import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GatewayService, StreamCompleteRequestSchema } from "../../gen/detour/v1/gateway_pb.js";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { AUTO_PROVIDERS } from "../../src/config/auto-providers.js";
import { spawnGateway } from "../helpers/process.js";
import { userRequest } from "../helpers/requests.js";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

const CONFIG = (drain: string) => `
server: { drain_timeout: ${drain} }
providers:
  - name: sim
    simulated:
      models:
        - { name: slow, tokens_per_second: 25, output: { kind: lorem, words: 25 } }
`;

describe("SIGTERM drains in-flight calls", () => {
  test("an in-flight stream finishes, health turns NOT_SERVING, the process exits 0", async () => {
    const p = await spawnGateway({ yaml: CONFIG("10s") });
    const transport = createConnectTransport({ baseUrl: p.url, httpVersion: "2" });
    const client = createClient(GatewayService, transport);
    const health = createClient(Health, transport);
    let text = "";
    let done = 0;
    let signalled = false;
    for await (const ev of client.streamComplete(create(StreamCompleteRequestSchema, { request: userRequest("sim/slow") }))) {
      if (ev.event.case === "content") {
        text += ev.event.value.text;
        if (!signalled) {
          signalled = true;
          const watch = health.watch(create(HealthCheckRequestSchema, { service: "" }))[Symbol.asyncIterator]();
          assert.equal((await watch.next()).value?.status, HealthCheckResponse_ServingStatus.SERVING);
          p.child.kill("SIGTERM");
          assert.equal((await watch.next()).value?.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
          await watch.return?.();
        }
      }
      if (ev.event.case === "done") done++;
    }
    assert.equal(done, 1, "the stream ended with its done event");
    assert.equal(text.split(" ").length, 25, "every word arrived");
    assert.equal(await p.exit, 0);
    await assert.rejects(fetch(`${p.url}/healthz`), "the listener is closed");
  });

  test("a call still running at the drain timeout ends with UNAVAILABLE, not a cut", async () => {
    const p = await spawnGateway({ yaml: CONFIG("300ms") });
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: p.url, httpVersion: "1.1" }));
    const err = await (async () => {
      let signalled = false;
      for await (const ev of client.streamComplete(create(StreamCompleteRequestSchema, { request: userRequest("sim/slow") }))) {
        if (ev.event.case === "content" && !signalled) {
          signalled = true;
          p.child.kill("SIGTERM");
        }
      }
    })().then(
      () => assert.fail("the stream should not complete"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.ok([Code.Unavailable, Code.Canceled].includes(err.code), `got ${Code[err.code]}: ${err.message}`);
    assert.equal(await p.exit, 0);
  });

  test("a bad config stops startup with the field path and exit code 2", async () => {
    const dir = await mkdtemp(join(tmpdir(), "detour-bad-"));
    const file = join(dir, "bad.yaml");
    await writeFile(file, "routes: [{ name: r, targets: [{ model: nowhere/x }] }]\n");
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const [code] = await once(child, "exit");
    assert.equal(code, 2);
    assert.match(stderr, /invalid config .*bad\.yaml:\n {2}- routes\[0\]\.targets\[0\]\.model: no provider named "nowhere"/);
  });

  test("an API key file that cannot be read stops startup the same way: the field, the path and the fix, no stack trace", async () => {
    const dir = await mkdtemp(join(tmpdir(), "detour-bad-"));
    const file = join(dir, "keyless.yaml");
    await writeFile(file, `providers: [{ name: o, openai: { api_key: { file: "${join(dir, "missing-key")}" } } }]\n`);
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const [code] = await once(child, "exit");
    assert.equal(code, 2);
    assert.match(stderr, /invalid config provider "o":\n {2}- api_key\.file: cannot read ".*missing-key" \(ENOENT\); check the path, or mount the key file there/);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  });

  test("a port already in use stops startup with the address and the fix, no stack trace", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--port", String(port), "--host", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const [code] = await once(child, "exit");
      assert.equal(code, 2);
      assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use: stop what holds it, or choose another --port \\(or server\\.port\\) \\(EADDRINUSE\\)`));
      assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
    } finally {
      holder.close();
    }
  });

  test("a config with no providers, and no provider key in the environment, starts with a warning saying every request will fail", async () => {
    const env = { ...process.env };
    for (const auto of AUTO_PROVIDERS) for (const k of auto.env) delete env[k];
    const dir = await mkdtemp(join(tmpdir(), "detour-empty-"));
    // Not an empty file: that is refused (reload-guard.test.ts).
    const file = join(dir, "no-providers.yaml");
    await writeFile(file, "server: { drain_timeout: 1s }\n");
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--config", file, "--port", "0", "--host", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    const listening = new Promise<void>((resolve) =>
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
        if (stdout.includes("Detour listening")) resolve();
      }),
    );
    await Promise.race([listening, once(child, "exit")]);
    child.kill("SIGTERM");
    await once(child, "exit");
    assert.match(stdout, /"level":40,[^\n]*NO PROVIDERS: [^\n]*configures none and no provider key is set [^\n]*every request will fail with UNKNOWN_MODEL/);
  });

  test("a bad flag says what is wrong and shows usage", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--port", "eighty"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const [code] = await once(child, "exit");
    assert.equal(code, 2);
    assert.match(stderr, /--port: "eighty" is not a port number/);
  });
});
