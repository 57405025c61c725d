import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import { SIM_CONFIG, startApp } from "../helpers/app.js";

const run = promisify(execFile);
const PY = "/usr/bin/python3";
const EXAMPLES = new URL("../../examples/python/", import.meta.url).pathname;

/** Why the Python toolchain is missing, or undefined when it is all there. */
function missing(): string | undefined {
  for (const bin of ["protoc", "grpc_python_plugin"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) return `${bin} is not installed (Debian protobuf-compiler, protobuf-compiler-grpc)`;
  }
  if (spawnSync(PY, ["-c", "import grpc, google.protobuf"]).status !== 0) return "python3-grpcio / python3-protobuf are not installed for /usr/bin/python3";
  return undefined;
}

test("a Python client generated from proto/ with protoc calls Complete and StreamComplete and reads error details", async (t) => {
  const why = missing();
  if (why) return t.skip(why);
  const out = await mkdtemp(join(tmpdir(), "detour-py-"));
  await run(join(EXAMPLES, "generate.sh"), [out]);
  const app = await startApp(SIM_CONFIG);
  try {
    const { stdout } = await run(PY, [join(EXAMPLES, "client.py"), `127.0.0.1:${app.port}`, "default"], { env: { ...process.env, DETOUR_PY_GEN: out } });
    const lines = stdout.trim().split("\n");
    assert.equal(lines[0], "complete: 'hello from fast' served by sim/fast [sim/failing:UPSTREAM_UNAVAILABLE, sim/fast:ok]");
    assert.equal(lines[1], "hop: UPSTREAM_UNAVAILABLE -> sim/fast");
    assert.equal(lines[2], "stream: 'hello from fast' finish=FINISH_REASON_STOP");
    assert.match(lines[3] ?? "", /^error: \{'code': 'NOT_FOUND', 'message': 'model: no route or provider named "no-such-route".*', 'reason': 'UNKNOWN_MODEL', 'attempts': 0\}$/);
  } finally {
    await app.close();
  }
});
