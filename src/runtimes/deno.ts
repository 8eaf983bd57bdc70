/**
 * Deno entry: `deno run --allow-net --allow-read --allow-env src/runtimes/deno.ts --config FILE`.
 *
 * It serves with `Deno.serve`, which has no client header or idle timeouts: a connection that
 * sends half a request, or nothing, stays open (denoland/deno#34172 would add them). Serving
 * through Deno's `node:http` instead, which has them, cost about a third of the throughput
 * (BENCHMARKS.md), so start-up says that `timeouts.clientHeader` and `clientIdle` are not kept.
 */
import { getConnInfo } from "hono/deno";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listenFailure, listening } from "./boot.ts";
import { stateOpeners } from "./deno-stores.ts";
import { coarseDeadlines } from "./deadlines.ts";
import { onShutdownSignal } from "./shutdown.ts";
import { undiciUpstream } from "./undici-upstream.ts";
import { StandardEnd } from "../proxy/websocket-end.ts";
import { constructorConnect, type WebSocketWithHeaders } from "../proxy/websocket-standard.ts";

/** The slice of the Deno namespace this adapter uses (the project typechecks with tsc, not deno check). */
declare const Deno: {
  args: string[];
  readTextFile(path: string): Promise<string>;
  exit(code: number): never;
  env: { toObject(): Record<string, string> };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  serve(
    options: { port: number; hostname: string; cert?: string; key?: string; onListen?: (addr: { port: number }) => void },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void> };
  upgradeWebSocket(request: Request, options: { protocol?: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
};

/** Set from the config after boot: Deno's own pings (idleTimeout) stand for `websocket.pingInterval` on the client side. */
let denoPingSeconds = 0;

export const denoPlatform: Platform = {
  ...commonPlatform,
  runtime: "deno",
  upstream: undiciUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  deadline: coarseDeadlines(commonPlatform.now),
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

const { app, listeners } = await boot(Deno.args, (p) => Deno.readTextFile(p), denoPlatform, (code) => Deno.exit(code), stateOpeners);
denoPingSeconds = app.balancer.config.websocket.pingInterval;
const servers = listeners.map((l, i) => {
  try {
    return Deno.serve({ port: l.port, hostname: l.host, ...l.tls, onListen: (addr) => console.error(listening("deno", l, addr.port)) }, (req, info) => app.balancer.listenerApps[i]!.fetch(req, info));
  } catch (error) {
    console.error(listenFailure(l, l.port, error));
    return Deno.exit(1);
  }
});
console.error("fulcrum (deno): Deno.serve has no client timeouts (denoland/deno#34172): timeouts.clientHeader and timeouts.clientIdle are not kept; put a proxy that has them in front of an internet-facing listener, or use --runtime bun or node");
app.balancer.healthChecks.start();
const shutdown = onShutdownSignal(app.balancer, {
  // Deno's shutdown() stops listening and resolves when in-flight requests are done.
  stopAccepting: async () => void (await Promise.all(servers.map((s) => s.shutdown()))),
  forceClose: () => Deno.exit(0),
  exit: (code) => Deno.exit(code),
});
Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));
Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
