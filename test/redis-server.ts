/**
 * A real, throwaway `redis-server` (Debian's package) for tests: no
 * persistence, loopback only, on a free port. `stop()` kills it (to test fail
 * static), `restart()` brings a fresh one back on the same port (empty, like
 * a Redis restarted without persistence).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { freePort } from "./e2e/launch.ts";

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Kill the server (SIGKILL: as abrupt as a crash); resolves once it has exited. */
  stop(): Promise<void>;
  /** Start it again on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a hung server or a partition). */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
}

const BINARY = process.env.REDIS_SERVER ?? "redis-server";

function assertInstalled(): void {
  const probe = spawnSync(BINARY, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `redis-server is needed by the Redis state-store tests but "${BINARY} --version" failed ` +
        `(${probe.error?.message ?? probe.stderr.trim()}). Install it: apt-get install redis-server ` +
        `(or set REDIS_SERVER to its path).`,
    );
  }
}

/** Resolves once something accepts TCP connections on the port and answers PING. */
async function waitForPing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${output()}`);
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("error", () => done(false));
      socket.once("connect", () => socket.write("PING\r\n"));
      socket.once("data", (d) => {
        socket.destroy();
        done(d.toString().startsWith("+PONG"));
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING:\n${output()}`);
}

export async function startRedis(): Promise<RedisServer> {
  assertInstalled();
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async () => {
    let output = "";
    const c = spawn(BINARY, ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    c.stdout!.on("data", (d) => (output += d));
    c.stderr!.on("data", (d) => (output += d));
    child = c;
    await waitForPing(port, c, () => output);
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((done) => c.once("exit", () => done()));
    c.kill("SIGKILL");
    await exited;
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
  };
}
