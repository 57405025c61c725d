/**
 * Starts a throwaway redis-server on a free 127.0.0.1 port for a test file,
 * or says why it cannot (the tests then skip visibly).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";

/** A running redis-server. */
export interface TestRedis {
  readonly url: string;
  stop(): Promise<void>;
  /** Freezes the server (SIGSTOP): connected, but never answering. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, "close");
  return port;
}

/** Starts redis-server (on `port`, or a free one), or returns the reason it is not available. */
export async function startRedis(port?: number): Promise<TestRedis | string> {
  if (spawnSync("redis-server", ["--version"]).error) return "redis-server is not installed (.ci/run installs the Debian package)";
  port ??= await freePort();
  const child: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const ready = await new Promise<boolean>((resolve) => {
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("Ready to accept connections")) resolve(true);
    });
    child.on("exit", () => resolve(false));
  });
  if (!ready) return `redis-server did not start: ${out.slice(-300)}`;
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await once(child, "exit");
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
  };
}
