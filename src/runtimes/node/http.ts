/**
 * Listeners on node:http (or node:https) through @hono/node-server, with
 * WebSocket upgrades, one-line bind errors and the drain used at shutdown: the
 * Node entry's, and the Deno entry's with `--deno-server node` (Deno's port of
 * node:http keeps the same timeouts; `Deno.serve` has none).
 *
 * Client timeouts (`timeouts.clientHeader`, `timeouts.clientIdle`):
 *   - `headersTimeout`: a request's head must be complete within it, counted
 *     from the connection or from the start of each request, so trickled
 *     bytes do not extend it (nginx `client_header_timeout`); 408, then close.
 *     Node checks every `connectionsCheckingInterval`, so that is kept short.
 *   - `keepAliveTimeout`: an idle keep-alive connection closes after it (Node
 *     enforces it one second late).
 *   - `handshakeTimeout` (HTTPS): a connection that never completes TLS.
 *   - `requestTimeout` off: a long upload is not cut; the balancer's own
 *     timeouts bound the target's side.
 */
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createServer as createHttpsServer } from "node:https";
import { serve } from "@hono/node-server";
import type { Config } from "../../config/schema.ts";
import type { BootListener, Bound, Handler } from "../server/listeners.ts";
import { nodeUpgradeListener } from "./websocket.ts";
import { UpstreamError } from "../../platform.ts";
import { BodyBroken } from "../../proxy/body-end.ts";

/**
 * @hono/node-server prints a response body's error with console.error, stack
 * and all (its handleResponseError), then aborts the client's connection,
 * which is right. A target that broke or stalled a body is an expected
 * failure, counted in the metrics: the log gets one plain line for it.
 */
function quietExpectedBodyErrors(): void {
  const print = console.error;
  console.error = (...args: unknown[]) => {
    const [error] = args;
    if (args.length === 1 && (error instanceof BodyBroken || error instanceof UpstreamError)) return print(`upstream body: ${error.message}`);
    print(...args);
  };
}

let quieted = false;
let connections = 0;

/** Client connections open on every listener bound here (TLS ones included): the `fulcrum_client_connections` gauge. */
export const clientConnections = (): number => connections;

/** Bind one listener on node:http (or node:https); resolves once it listens, rejects with the OS's error. */
export function bindNodeHttp(listener: BootListener, fetch: Handler, config: Pick<Config, "timeouts" | "websocket">): Promise<Bound> {
  if (!quieted) quietExpectedBodyErrors();
  quieted = true;
  const headerMs = config.timeouts.clientHeader * 1000;
  const serverOptions = {
    headersTimeout: headerMs,
    keepAliveTimeout: config.timeouts.clientIdle * 1000,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.min(1000, headerMs),
  };
  const l = listener;
  const tls = l.tls ? { createServer: createHttpsServer, serverOptions: { ...serverOptions, ...l.tls, handshakeTimeout: headerMs } } : { serverOptions };
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: fetch as never, port: l.port, hostname: l.host, ...tls }) as Server;
    // Also as properties: not every one is a createServer option on every Node version.
    server.headersTimeout = serverOptions.headersTimeout;
    server.keepAliveTimeout = serverOptions.keepAliveTimeout;
    server.requestTimeout = 0;
    // A failed bind is an 'error' event; unhandled, it prints a stack trace.
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        stop: () => drain(server),
        forceClose: () => server.closeAllConnections(),
      });
    });
    server.on("connection", (socket: Socket) => {
      connections++;
      socket.once("close", () => connections--);
    });
    server.on("upgrade", nodeUpgradeListener(fetch as never, config.websocket));
  });
}

function drain(server: Server): Promise<void> {
  return new Promise<void>((done) => {
    // close() waits for active requests; idle keep-alive sockets would hold it open forever.
    server.close(() => done());
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    server.once("close", () => clearInterval(idle));
  });
}
