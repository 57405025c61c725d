/**
 * The floor: the least a Node gateway can do — parse the body, pick the
 * upstream by model, forward over a keep-alive pool, fall back on 5xx/429,
 * pass SSE through. What any Node gateway must cost on this machine.
 */
import http from "node:http";
import { Agent, request } from "undici";

const upstream = process.env["UPSTREAM"] ?? "http://127.0.0.1:9000";
const fallbacks: Record<string, string> = { "fail-503": "ok", "fail-429": "ok" };
const agent = new Agent({ keepAliveTimeout: 60_000 });
// For `npm run bench:ab` only: a busy-wait of FLOOR_SPIN_US per request, to see
// how CPU per request answers a known amount of added work (0: none).
const SPIN_NS = BigInt(Math.round(Number(process.env["FLOOR_SPIN_US"] ?? 0) * 1000));

const server = http.createServer(async (req, res) => {
  if (SPIN_NS > 0n) for (const end = process.hrtime.bigint() + SPIN_NS; process.hrtime.bigint() < end; );
  res.on("error", () => undefined);
  // A client that leaves ends the upstream call too.
  const ctl = new AbortController();
  res.on("close", () => ctl.abort());
  try {
    let body = "";
    for await (const c of req) body += c;
    const parsed = JSON.parse(body) as { model: string };
    for (let model: string | undefined = parsed.model; model; model = fallbacks[model]) {
      const up = await request(`${upstream}/v1/chat/completions`, { method: "POST", dispatcher: agent, headers: { "content-type": "application/json" }, body: JSON.stringify({ ...parsed, model }), signal: ctl.signal });
      if ((up.statusCode >= 500 || up.statusCode === 429) && fallbacks[model]) {
        await up.body.dump();
        continue;
      }
      res.writeHead(up.statusCode, { "content-type": String(up.headers["content-type"] ?? "application/json") });
      for await (const c of up.body) res.write(c);
      return void res.end();
    }
  } catch {
    // The upstream cut the stream or was unreachable: a pass-through can only cut too.
    if (res.headersSent) res.destroy();
    else res.writeHead(502).end();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })));
// Exit normally on SIGINT so that `--cpu-prof` (npm run bench:profile) writes its profile.
process.on("SIGINT", () => process.exit(0));
