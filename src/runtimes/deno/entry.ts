/**
 * Deno entry: `deno run --allow-net --allow-read --allow-env src/runtimes/deno.ts --config FILE
 * [--deno-server node]`.
 *
 * By default it serves with `Deno.serve`, which has no client header or idle timeouts: a
 * connection that sends half a request, or nothing, stays open (denoland/deno#34172 would add
 * them), and start-up says that `timeouts.clientHeader` and `clientIdle` are not kept. With
 * `--deno-server node` it serves through Deno's port of `node:http`, as the Node entry does,
 * which keeps them: for a listener that faces the internet, at about a third of the throughput
 * (BENCHMARKS.md).
 */
import { getConnInfo } from "hono/deno";
import { getConnInfo as getNodeConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../../platform.ts";
import { runServer } from "../server/run.ts";
import { bindNodeHttp, clientConnections } from "../node/http.ts";
import { nodeWebSocket } from "../node/websocket.ts";
import { stateOpeners } from "./stores.ts";
import { coarseTimers } from "../server/timers.ts";
import { childProcessWorkers } from "../server/workers/spawn.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import { StandardEnd } from "../../proxy/websocket-end.ts";
import { constructorConnect, type WebSocketWithHeaders } from "../../proxy/websocket-standard.ts";
import { nodeDns } from "../server/dns.ts";

/** The slice of the Deno namespace this adapter uses (the project typechecks with tsc, not deno check). */
declare const Deno: {
  args: string[];
  pid: number;
  ppid: number;
  hostname(): string;
  readTextFile(path: string): Promise<string>;
  exit(code: number): never;
  env: { toObject(): Record<string, string> };
  addSignalListener(signal: "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR2", handler: () => void): void;
  execPath(): string;
  mainModule: string;
  serve(
    options: { port: number; hostname: string; cert?: string; key?: string; reusePort?: boolean; onListen?: (addr: { port: number }) => void },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void>; addr: { port: number } };
  upgradeWebSocket(request: Request, options: { protocol?: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
};

/** Set from the config after boot: Deno's own pings (idleTimeout) stand for `websocket.pingInterval` on the client side. */
let denoPingSeconds = 0;

/** `--deno-server deno|node`: Deno.serve (the default), or Deno's node:http, which has client timeouts. */
function denoServer(args: readonly string[]): "deno" | "node" {
  const i = args.findIndex((a) => a === "--deno-server" || a.startsWith("--deno-server="));
  if (i < 0) return "deno";
  const value = args[i]!.includes("=") ? args[i]!.slice("--deno-server=".length) : args[i + 1];
  if (value === "deno" || value === "node") return value;
  console.error(`fulcrum: --deno-server: expected deno or node, got ${JSON.stringify(value ?? "")}`);
  return Deno.exit(1);
}
const viaNodeHttp = denoServer(Deno.args) === "node";

export const denoPlatform: Platform = {
  ...commonPlatform,
  runtime: "deno",
  upstream: undiciUpstream,
  dns: nodeDns,
  clientAddress: (c) => getConnInfo(c).remote.address,
  timer: coarseTimers(commonPlatform.now),
  env: Deno.env.toObject(),
  websocket: {
    // Deno 2's WebSocket takes { headers, protocols } (checked on 2.9).
    connect: constructorConnect(WebSocket as unknown as WebSocketWithHeaders, (m) => (/refused/i.test(m) ? "connect" : "reset")),
    accept(c, init) {
      // Deno checks `protocol` against the offered list split on ", " only, so "a,b" (what `ws` sends) is refused: set the header itself.
      const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: denoPingSeconds });
      const headers: [string, string][] = [...init.headers];
      if (init.protocol) headers.push(["sec-websocket-protocol", init.protocol]);
      for (const [name, value] of headers) {
        try {
          response.headers.append(name, value);
        } catch {
          // Immutable on some Deno versions: the 101 then goes without the request id and cookies.
        }
      }
      return { response, end: new StandardEnd(socket, init.protocol) };
    },
  },
};

const exit = (code: number) => Deno.exit(code);

/**
 * How a worker is started: the command `fulcrum serve` gives (its flags and the bundle), or
 * this entry again with the permissions the README documents. Workers share the ports through
 * SO_REUSEPORT, which Deno.serve offers behind `--unstable-net`.
 */
function denoWorkers() {
  const command = workerCommand();
  // The bundle (or this entry) the command runs: a rolling restart replaces it with the rebuilt one.
  const entry = decodeURIComponent(new URL(Deno.mainModule).pathname);
  return childProcessWorkers(command, denoPlatform.env as Record<string, string>, command.indexOf(entry));
}

function workerCommand(): string[] {
  const given = denoPlatform.env.FULCRUM_WORKER_COMMAND;
  if (typeof given === "string" && given !== "") return JSON.parse(given) as string[];
  return [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    "--unstable-kv",
    "--unstable-net",
    Deno.mainModule,
    ...Deno.args,
  ];
}

let warned = false;

await runServer({
  argv: Deno.args,
  readText: (p) => Deno.readTextFile(p),
  platform: viaNodeHttp
    ? { ...denoPlatform, clientAddress: (c) => getNodeConnInfo(c).remote.address, websocket: nodeWebSocket, clientConnections }
    : denoPlatform,
  stores: stateOpeners,
  exit,
  instance: `${Deno.hostname()}:${Deno.pid}`,
  parentPid: () => Deno.ppid,
  // Deno Deploy serves one port: the admin API is a path there (admin.api.path).
  secondPort: denoPlatform.env.DENO_DEPLOYMENT_ID === undefined,
  onSignal: (signal, handler) => Deno.addSignalListener(signal, handler),
  cpus: () => navigator.hardwareConcurrency,
  // Deno's node:http cannot share a port between processes.
  ...(viaNodeHttp ? {} : { spawnWorker: denoWorkers() }),
  bind(l, fetch, config, shared) {
    denoPingSeconds = config.websocket.pingInterval;
    if (viaNodeHttp) return bindNodeHttp(l, fetch, config);
    const server = Deno.serve(
      { port: l.port, hostname: l.host, ...l.tls, ...(shared ? { reusePort: true } : {}), onListen: () => {} },
      (req, info) => fetch(req, info),
    );
    // Once something is listening: a port in use stays the one line start-up prints.
    // Said once per host: by the primary, not again by each worker.
    if (!warned && !shared) {
      warned = true;
      console.error(
        "fulcrum (deno): Deno.serve has no client timeouts (denoland/deno#34172): timeouts.clientHeader and timeouts.clientIdle are not kept; for a listener that faces the internet use --deno-server node, or a proxy in front",
      );
    }
    return {
      port: server.addr.port,
      // Deno's shutdown() stops listening and resolves when in-flight requests are done.
      stop: () => server.shutdown(),
      forceClose: () => exit(0),
    };
  },
});
