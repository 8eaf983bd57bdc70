/** Deno entry: `deno run --allow-net --allow-read --allow-env src/runtimes/deno.ts --config FILE`. */
import { getConnInfo } from "hono/deno";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listening } from "./boot.ts";
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
  mutableUpstreamResponses: true,
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
const servers = await Promise.all(
  listeners.map(async (l, i) => {
    const tls = l.certificate ? { cert: await Deno.readTextFile(l.certificate.certFile), key: await Deno.readTextFile(l.certificate.keyFile) } : {};
    return Deno.serve({ port: l.port, hostname: l.host, ...tls, onListen: (addr) => console.error(listening("deno", l, addr.port)) }, (req, info) => app.balancer.listenerApps[i]!.fetch(req, info));
  }),
);
app.balancer.healthChecks.start();
const shutdown = onShutdownSignal(app.balancer, {
  // Deno's shutdown() stops listening and resolves when in-flight requests are done.
  stopAccepting: async () => void (await Promise.all(servers.map((s) => s.shutdown()))),
  forceClose: () => Deno.exit(0),
  exit: (code) => Deno.exit(code),
});
Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));
Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
