import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { resolveConfig } from "../../src/config/source.js";
import { DASHBOARD_HEADERS } from "../../src/server/dashboard.js";
import { SIM_CONFIG, startApp, type TestApp } from "../helpers/app.js";

const sha = (key: string) => createHash("sha256").update(key).digest("hex");
const ADMIN = "dtr-dashboard-admin-key";
const APP = "dtr-dashboard-app-key";
const ENABLED = SIM_CONFIG.replace("server: {", "server: { dashboard: true,");
const WITH_KEYS = `${ENABLED}
keys:
  - { name: app, sha256: ${sha(APP)} }
  - { name: ops, sha256: ${sha(ADMIN)}, admin: true }
`;

const FILES = [
  ["/dashboard", "text/html"],
  ["/dashboard/", "text/html"],
  ["/dashboard/main.js", "text/javascript"],
  ["/dashboard/api.js", "text/javascript"],
  ["/dashboard/format.js", "text/javascript"],
  ["/dashboard/panels.js", "text/javascript"],
  ["/dashboard/charts.js", "text/javascript"],
  ["/dashboard/dashboard.css", "text/css"],
  ["/dashboard/uPlot.iife.min.js", "text/javascript"],
  ["/dashboard/uPlot.min.css", "text/css"],
] as const;

/** A raw GET, so the path reaches the server exactly as written (fetch would normalise ".."). */
function rawGet(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${url}${path}`, { path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on("error", reject)
      .end();
  });
}

function admin(url: string, method: string, body: unknown, key?: string): Promise<Response> {
  return fetch(`${url}/detour.v1.AdminService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
}

describe("GET /dashboard", () => {
  test("is 404 unless enabled, and says how to turn it on", async () => {
    const t = await startApp(SIM_CONFIG);
    try {
      for (const path of ["/dashboard", "/dashboard/main.js", "/dashboard/uPlot.iife.min.js"]) {
        const res = await fetch(`${t.url}${path}`);
        assert.equal(res.status, 404, path);
        assert.match(await res.text(), /server\.dashboard: true.*--dashboard/);
      }
    } finally {
      await t.close();
    }
  });

  test("a config reload turns it on and off", async () => {
    const t = await startApp(SIM_CONFIG);
    try {
      t.app.reload(parseConfig(ENABLED, "on.yaml"));
      assert.equal((await fetch(`${t.url}/dashboard`)).status, 200);
      t.app.reload(parseConfig(SIM_CONFIG, "off.yaml"));
      assert.equal((await fetch(`${t.url}/dashboard`)).status, 404);
    } finally {
      await t.close();
    }
  });

  test("the built-in config (npm start) turns it on, on localhost", async () => {
    const { config, builtin } = await resolveConfig(undefined);
    assert.ok(builtin);
    assert.equal(config.server?.dashboard, true);
    assert.equal(config.server?.host, "127.0.0.1");
  });

  describe("when enabled", () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(WITH_KEYS);
    });
    after(() => t.close());

    test("serves only its allow-listed files, each with the security headers", async () => {
      for (const [path, type] of FILES) {
        const res = await fetch(`${t.url}${path}`);
        assert.equal(res.status, 200, path);
        assert.ok(res.headers.get("content-type")?.startsWith(type), `${path}: ${res.headers.get("content-type")}`);
        for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) assert.equal(res.headers.get(name), value, `${path}: ${name}`);
        assert.ok((await res.arrayBuffer()).byteLength > 0);
      }
      const csp = DASHBOARD_HEADERS["content-security-policy"] ?? "";
      assert.match(csp, /default-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(DASHBOARD_HEADERS["x-content-type-options"], "nosniff");
      for (const path of ["/dashboard/nope.js", "/dashboard/../package.json", "/dashboard/%2e%2e/package.json", "/dashboard/..%2fsrc%2fmain.ts", "/dashboard/index.html/"]) {
        assert.equal(await rawGet(t.url, path), 404, path);
      }
      const post = await fetch(`${t.url}/dashboard`, { method: "POST" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
    });

    test("revalidates with an ETag", async () => {
      const first = await fetch(`${t.url}/dashboard/main.js`);
      const etag = first.headers.get("etag") ?? "";
      assert.ok(etag);
      const again = await fetch(`${t.url}/dashboard/main.js`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
    });

    test("the page has no inline code and loads nothing from elsewhere", async () => {
      const html = await (await fetch(`${t.url}/dashboard`)).text();
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      assert.ok(scripts.length >= 2);
      for (const [, attrs, body] of scripts) {
        assert.match(attrs ?? "", /src="\/dashboard\//);
        assert.equal(body?.trim(), "", "no inline script");
      }
      assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=|<style/i, "no inline styles or handlers");
      for (const [, url] of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
        assert.ok(url === "#main" || url === "data:," || url?.startsWith("/dashboard/"), `fetches only its own files: ${url}`);
      }
      for (const path of ["/dashboard/main.js", "/dashboard/api.js", "/dashboard/panels.js", "/dashboard/charts.js", "/dashboard/format.js"]) {
        const js = await (await fetch(`${t.url}${path}`)).text();
        assert.doesNotMatch(js, /https?:\/\//, `${path} names no other origin`);
        assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/, `${path} builds no markup from strings`);
      }
    });

    test("its data needs an admin key: 401 without, 403 for a non-admin key", async () => {
      for (const method of ["ListRoutes", "ListBreakers", "GetStats", "ListRecentRequests"]) {
        const none = await admin(t.url, method, {});
        assert.equal(none.status, 401, method);
        assert.equal(((await none.json()) as { code: string }).code, "unauthenticated");
        const app = await admin(t.url, method, {}, APP);
        assert.equal(app.status, 403, method);
        assert.equal(((await app.json()) as { code: string }).code, "permission_denied");
        assert.equal((await admin(t.url, method, {}, ADMIN)).status, 200, method);
      }
    });

    test("recent requests carry the attempts trail but no prompt text, and the limit is checked", async () => {
      const prompt = "dashboard-prompt-canary-8d1f";
      const chat = await fetch(`${t.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${APP}` },
        body: JSON.stringify({ model: "default", messages: [{ role: "user", content: prompt }] }),
      });
      assert.equal(chat.status, 200);
      const res = await admin(t.url, "ListRecentRequests", { route: "default", limit: 5 }, ADMIN);
      const text = await res.text();
      assert.ok(!text.includes(prompt), "no prompt text");
      assert.ok(!text.includes(APP) && !text.includes(ADMIN), "no keys");
      const body = JSON.parse(text) as { requests: { outcome: string; savedByFallback?: boolean; servedBy?: { model: string }; attempts: { target: { model: string }; outcome: string; reason?: string; message?: string }[] }[] };
      const last = body.requests[0];
      assert.equal(last?.outcome, "ok");
      assert.equal(last?.savedByFallback, true);
      assert.equal(last?.servedBy?.model, "fast");
      assert.deepEqual(
        last?.attempts.map((a) => [a.target.model, a.outcome, a.reason ?? "", a.message ?? ""]),
        [
          ["failing", "ATTEMPT_OUTCOME_FAILED", "UPSTREAM_UNAVAILABLE", ""],
          ["fast", "ATTEMPT_OUTCOME_SUCCEEDED", "", ""],
        ],
      );
      const tooMany = await admin(t.url, "ListRecentRequests", { limit: 500 }, ADMIN);
      assert.equal(tooMany.status, 400);
      assert.match(((await tooMany.json()) as { message: string }).message, /limit: at most 200/);
    });
  });
});
