import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config/load.js";
import { bindHost } from "../../src/server/bind-host.js";
import { createLogger } from "../../src/telemetry/log.js";
import { SIM_CONFIG, startApp } from "../helpers/app.js";

const hash = (k: string) => createHash("sha256").update(k).digest("hex");
const CHAT = JSON.stringify({ model: "sim/fast", messages: [{ role: "user", content: "hi" }] });

/** An HTTP/1.1 request with any headers (fetch will not set Host). */
function raw(url: string, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { method: o.method ?? "GET", headers: o.headers ?? {} }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

describe("open mode and browsers", () => {
  test("without keys Detour listens on loopback whatever host is asked, and says so; open_public or keys keep the host", async () => {
    const lines: string[] = [];
    const dest = new Writable({ write: (c: Buffer, _e, done) => void (lines.push(c.toString()), done()) });
    const app = buildApp(parseConfig(SIM_CONFIG, "t", { env: {} }), { logger: createLogger("info", dest) });
    const addr = await app.listen(0, "0.0.0.0");
    try {
      assert.equal(addr.address, "127.0.0.1");
      assert.match(lines.join(""), /NO GATEWAY KEYS: listening on 127\.0\.0\.1 \(loopback only\), not on the requested 0\.0\.0\.0.*server\.open_public: true/);
    } finally {
      await app.shutdown();
    }
    assert.deepEqual(bindHost({ requested: undefined, open: true, openPublic: false, keyedDefault: "0.0.0.0" }), { host: "127.0.0.1" });
    assert.deepEqual(bindHost({ requested: "10.0.0.5", open: true, openPublic: true, keyedDefault: "0.0.0.0" }), { host: "10.0.0.5" });
    assert.deepEqual(bindHost({ requested: undefined, open: false, openPublic: false, keyedDefault: "0.0.0.0" }), { host: "0.0.0.0" });
    assert.deepEqual(bindHost({ requested: "localhost", open: true, openPublic: false, keyedDefault: "0.0.0.0" }), { host: "localhost" });
  });

  test("a text/plain cross-site POST spends nothing: 415 for the body type, 403 for the origin", async () => {
    const t = await startApp(SIM_CONFIG);
    try {
      const plain = await raw(t.url, "/v1/chat/completions", { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: CHAT });
      assert.equal(plain.status, 415);
      assert.match(plain.body, /Content-Type: application\/json/);
      const cross = await raw(t.url, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", origin: "https://evil.example" }, body: CHAT });
      assert.equal(cross.status, 403);
      assert.match(JSON.parse(cross.body).error.message, /"https:\/\/evil\.example" may not call this gateway from a browser; add it to server\.cors\.allowed_origins/);
      const connect = await raw(t.url, "/detour.v1.AdminService/GetStats", { method: "POST", headers: { "content-type": "application/json", origin: "https://evil.example" }, body: "{}" });
      assert.equal(connect.status, 403);
      assert.equal(JSON.parse(connect.body).code, "permission_denied");
      const same = await raw(t.url, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", origin: t.url }, body: CHAT });
      assert.equal(same.status, 200, "the gateway's own pages (the dashboard) are same-origin");
    } finally {
      await t.close();
    }
  });

  test("with server.cors.allowed_origins, preflights are answered and the allowed origin may read; others are refused", async () => {
    const t = await startApp(`${SIM_CONFIG.replace("server: { drain_timeout: 2s }", 'server: { drain_timeout: 2s, cors: { allowed_origins: ["https://app.example"] } }')}`);
    try {
      const pre = await raw(t.url, "/v1/chat/completions", { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers["access-control-allow-origin"], "https://app.example");
      assert.equal(pre.headers["access-control-allow-headers"], "authorization, content-type");
      assert.match(String(pre.headers["access-control-allow-methods"]), /POST/);
      const ok = await raw(t.url, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", origin: "https://app.example" }, body: CHAT });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers["access-control-allow-origin"], "https://app.example");
      assert.match(String(ok.headers["access-control-expose-headers"]), /x-detour-model/);
      const other = await raw(t.url, "/v1/chat/completions", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
      assert.equal(other.status, 403);
      assert.equal(other.headers["access-control-allow-origin"], undefined);
    } finally {
      await t.close();
    }
  });

  test("an open gateway answers only to loopback names on its port (DNS rebinding cannot read the admin API); a keyed one to any", async () => {
    const t = await startApp(SIM_CONFIG);
    try {
      for (const host of ["evil.example", `evil.example:${t.port}`, "rebind.127.0.0.1.nip.io", `localhost:${t.port + 1}`]) {
        const r = await raw(t.url, "/detour.v1.AdminService/GetStats", { method: "POST", headers: { host, "content-type": "application/json" }, body: "{}" });
        assert.equal(r.status, 421, host);
        assert.match(JSON.parse(r.body).message, /is not this gateway's address; without keys it answers only to localhost, 127\.0\.0\.1 and \[::1\]/);
      }
      for (const host of [`localhost:${t.port}`, `127.0.0.1:${t.port}`, `[::1]:${t.port}`]) {
        assert.equal((await raw(t.url, "/v1/models", { headers: { host } })).status, 200, host);
      }
    } finally {
      await t.close();
    }
    const keyed = await startApp(`${SIM_CONFIG}\nkeys: [{ name: ops, sha256: ${hash("k-ops")}, admin: true }]\n`);
    try {
      const r = await raw(keyed.url, "/v1/models", { headers: { host: "gateway.example", authorization: "Bearer k-ops" } });
      assert.equal(r.status, 200);
    } finally {
      await keyed.close();
    }
  });
});
