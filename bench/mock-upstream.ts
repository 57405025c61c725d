/**
 * A fast mock of OpenAI Chat Completions for benchmarks: JSON or SSE, with
 * the behaviour chosen by the model name: "ok" answers, "slow" waits
 * TTFT_MS before the first chunk, "fail-503" and "fail-429" fail, "hang"
 * never answers, "cut" drops the stream half-way, "drip" streams one chunk
 * every DRIP_MS for DRIP_COUNT chunks (slow streams held open), "long"
 * streams LONG_TOKENS chunks LONG_GAP_MS apart (a long answer, token by token).
 */
import http from "node:http";

const CHUNKS = Number(process.env["CHUNKS"] ?? 8);
const TTFT_MS = Number(process.env["TTFT_MS"] ?? 0);
const DRIP_MS = Number(process.env["DRIP_MS"] ?? 1000);
const DRIP_COUNT = Number(process.env["DRIP_COUNT"] ?? 20);
const LONG_TOKENS = Number(process.env["LONG_TOKENS"] ?? 200);
const LONG_GAP_MS = Number(process.env["LONG_GAP_MS"] ?? 1);

function completion(model: string): string {
  return JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 1,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "word ".repeat(CHUNKS).trim() }, finish_reason: "stop" }],
    usage: { prompt_tokens: 5, completion_tokens: CHUNKS, total_tokens: 5 + CHUNKS },
  });
}

function chunk(model: string, delta: object, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

/** Starts the mock on 127.0.0.1:`port` (0 for any); resolves with the port. */
export function startMock(port = 0): Promise<number> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    req.on("end", async () => {
      let json: unknown;
      try {
        json = JSON.parse(body || "{}");
      } catch {
        res.writeHead(400).end();
        return;
      }
      const parsed = json as { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean } };
      const model = parsed.model ?? "ok";
      if (model === "fail-503" || model === "fail-429") {
        const status = model === "fail-503" ? 503 : 429;
        res.writeHead(status, { "content-type": "application/json", ...(status === 429 ? { "retry-after": "30" } : {}) });
        res.end(JSON.stringify({ error: { message: "mock failure", type: "server_error", param: null, code: null } }));
        return;
      }
      if (model === "hang") return;
      if (model === "slow" || TTFT_MS > 0) await new Promise((r) => setTimeout(r, model === "slow" ? 200 : TTFT_MS));
      if (!parsed.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(completion(model));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk(model, { role: "assistant", content: "" }));
      if (model === "drip" || model === "long") {
        const [count, gap] = model === "drip" ? [DRIP_COUNT, DRIP_MS] : [LONG_TOKENS, LONG_GAP_MS];
        for (let i = 0; i < count && !res.destroyed; i++) {
          res.write(chunk(model, { content: "word " }));
          await new Promise((r) => setTimeout(r, gap));
        }
      }
      for (let i = 0; i < (model === "long" ? 0 : CHUNKS); i++) {
        res.write(chunk(model, { content: "word " }));
        if (model === "cut" && i === CHUNKS / 2) {
          // Let the first half reach the client before the reset.
          await new Promise((r) => setTimeout(r, 20));
          return void res.socket?.destroy();
        }
      }
      res.write(chunk(model, {}, "stop"));
      if (parsed.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: CHUNKS, total_tokens: 5 + CHUNKS } })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void startMock(Number(process.argv[2] ?? 0)).then((port) => console.log(JSON.stringify({ port })));
}
