import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { promisify } from "node:util";

const ROOT = new URL("../../", import.meta.url).pathname;

// `npm start` runs what `npm run build` writes to dist/ (as the Docker image
// does): compiled modules, the generated code, the built-in config and the
// dashboard's files must all be there and work together.
test("npm run build produces a gateway that starts on the built-in config and serves the API and the dashboard", { timeout: 60_000 }, async () => {
  await promisify(execFile)("npm", ["run", "-s", "build"], { cwd: ROOT });
  const child = spawn(process.execPath, ["dist/src/main.js", "--port", "0", "--host", "127.0.0.1"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OPENAI_API_KEY: "", ANTHROPIC_API_KEY: "", GEMINI_API_KEY: "", GOOGLE_API_KEY: "" } });
  const exit = once(child, "exit");
  try {
    let url = "";
    for await (const line of createInterface({ input: child.stdout! })) {
      const m = /"port":(\d+)/.exec(line);
      if (m) {
        url = `http://127.0.0.1:${m[1]}`;
        break;
      }
    }
    assert.ok(url, "the compiled gateway listens");
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
