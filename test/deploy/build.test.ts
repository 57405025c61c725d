import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { spawnGateway } from "../helpers/process.js";

const ROOT = new URL("../../", import.meta.url).pathname;

// `npm start` runs what `npm run build` writes to dist/ (as the Docker image
// does): compiled modules, the generated code, the built-in config and the
// dashboard's files must all be there and work together.
test("npm run build produces a gateway that starts on the built-in config and serves the API and the dashboard", { timeout: 60_000 }, async () => {
  await promisify(execFile)("npm", ["run", "-s", "build"], { cwd: ROOT });
  const { child, url, exit } = await spawnGateway({ entry: "dist", env: { ...process.env, OPENAI_API_KEY: "", ANTHROPIC_API_KEY: "", GEMINI_API_KEY: "", GOOGLE_API_KEY: "" } });
  try {
    const answer = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { object: string }).object, "chat.completion");
    for (const path of ["/dashboard", "/dashboard/main.js", "/dashboard/uPlot.iife.min.js"]) {
      assert.equal((await fetch(`${url}${path}`)).status, 200, path);
    }
  } finally {
    child.kill();
    await exit;
  }
});
