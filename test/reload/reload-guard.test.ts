import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import type { Config } from "../../gen/detour/v1/config_pb.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { createReloader, readSettled } from "../../src/config/reload-guard.js";
import { createLogger } from "../../src/telemetry/log.js";
import { spawnGateway } from "../helpers/process.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");
const BASE = `
breaker: { disabled: true }
providers: [{ name: sim, simulated: { models: [{ name: one, output: { kind: text, text: "one" } }] } }]
routes: [{ name: r, targets: [{ model: sim/one }] }]
`;
const KEYED = `${BASE}keys: [{ name: ops, sha256: ${hash("k-ops")} }]\n`;

/** A logger whose lines the test reads. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger("info", dest), lines };
}

/** A file read as the given texts in turn (the last one from then on). */
function reads(...texts: string[]) {
  let n = 0;
  return { read: async () => texts[Math.min(n++, texts.length - 1)] as string, count: () => n };
}

const noWait = async () => undefined;

describe("reload guard", () => {
  test("an empty or comments-only file is refused with a clear message", () => {
    for (const text of ["", "\n\n", "# all commented out\n"]) {
      assert.throws(() => parseConfig(text, "detour.yaml", { env: {} }), (e: unknown) => e instanceof ConfigError && /the file is empty/.test(e.message));
    }
  });

  test("a two-step save (truncate, then write) is read only once it settles: the empty moment never applies", async () => {
    const file = reads("", "breaker: { disabled: tr", KEYED, KEYED);
    const applied: Config[] = [];
    const { logger } = capture();
    const r = createReloader(parseConfig(KEYED, "t", { env: {} }), { path: "detour.yaml", read: file.read, wait: noWait, parse: (t, p) => parseConfig(t, p, { env: {} }), apply: (c) => void applied.push(c), logger });
    assert.equal(await r.reload("file changed"), true);
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0]?.keys.map((k) => k.name), ["ops"], "the settled file, with its key, applied");
    assert.equal(file.count(), 4);
    await assert.rejects(readSettled("detour.yaml", { read: async () => String(Math.random()), wait: noWait, maxReads: 5 }), /kept changing over 5 reads/);
  });

  test("a reload that would remove every key is refused unless the file says open: true; every change is logged by name at warn", async () => {
    const { logger, lines } = capture();
    let text = BASE;
    const applied: Config[] = [];
    const r = createReloader(parseConfig(KEYED, "t", { env: {} }), { path: "detour.yaml", read: async () => text, wait: noWait, parse: (t, p) => parseConfig(t, p, { env: { OPENAI_API_KEY: "sk-from-env" } }), apply: (c) => void applied.push(c), logger });
    assert.equal(await r.reload("SIGHUP"), false);
    assert.equal(applied.length, 0);
    assert.match(String(lines.at(-1)?.["error"]), /would open the gateway.*"open: true"/);
    text = `${BASE}open: true\n`;
    assert.equal(await r.reload("SIGHUP"), true);
    const line = lines.at(-1) ?? {};
    assert.equal(line["level"], 40, "at warn");
    assert.equal(line["msg"], "config reloaded");
    assert.deepEqual(line["keys"], { added: [], removed: ["ops"] });
    assert.deepEqual(line["providers"], { added: ["openai"], removed: [] }, "a provider joined from the environment is named");
    assert.equal(line["open"], true);
    assert.doesNotMatch(JSON.stringify(lines), new RegExp(`${hash("k-ops")}|sk-from-env`), "no hash or secret in the logs");
  });
});

describe("reload guard in the running process", () => {
  test("an empty config file is refused at start with the reason, exit code 2", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "detour-empty-")), "detour.yaml");
    await writeFile(file, "");
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--config", file, "--port", "0", "--host", "127.0.0.1"], { cwd: new URL("../../", import.meta.url).pathname, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const [code] = await once(child, "exit");
    assert.equal(code, 2);
    assert.match(stderr, /the file is empty/);
  });

  test("SIGHUP with an empty file, or one without keys, keeps the keys; open: true opens on purpose", async () => {
    const { child, url, config: file, exit, line } = await spawnGateway({ yaml: KEYED });
    const ask = (auth?: string) => fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ model: "r", messages: [{ role: "user", content: "x" }] }) });
    assert.equal((await ask()).status, 401);
    await writeFile(file, "");
    child.kill("SIGHUP");
    assert.match(await line(/config reload refused/), /the file is empty/);
    assert.equal((await ask()).status, 401, "still authenticated");
    await writeFile(file, BASE);
    child.kill("SIGHUP");
    assert.match(await line(/config reload refused/), /would open the gateway/);
    assert.equal((await ask()).status, 401, "still authenticated");
    await writeFile(file, `${BASE}open: true\n`);
    child.kill("SIGHUP");
    assert.match(await line(/config reloaded/), /"removed":\["ops"\]/);
    assert.equal((await ask()).status, 200, "open, as the file says");
    child.kill("SIGTERM");
    assert.equal(await exit, 0);
  });
});
