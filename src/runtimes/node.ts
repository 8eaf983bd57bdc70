/** Node entry (bundled by the CLI with esbuild, Node 20 cannot run TypeScript): @hono/node-server + undici pools. */
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listening } from "./boot.ts";
import { stateOpeners } from "./node-stores.ts";
import { coarseDeadlines } from "./deadlines.ts";
import { onShutdownSignal } from "./shutdown.ts";
import { undiciUpstream } from "./undici-upstream.ts";
import { nodeUpgradeListener, nodeWebSocket } from "./websocket-node.ts";

export const nodePlatform: Platform = {
  ...commonPlatform,
  runtime: "node",
  upstream: undiciUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  mutableUpstreamResponses: true,
  deadline: coarseDeadlines(commonPlatform.now),
  env: process.env,
  websocket: nodeWebSocket,
};

const { app, listeners } = await boot(process.argv.slice(2), (p) => readFile(p, "utf8"), nodePlatform, (code) => process.exit(code), stateOpeners);
const servers = await Promise.all(
  listeners.map(async (l, i) => {
    const tls = l.certificate
      ? { createServer: createHttpsServer, serverOptions: { cert: await readFile(l.certificate.certFile), key: await readFile(l.certificate.keyFile) } }
      : {};
    const server = serve({ fetch: app.balancer.listenerApps[i]!.fetch, port: l.port, hostname: l.host, ...tls }, (info) => console.error(listening("node", l, info.port))) as Server;
    // Node's default requestTimeout (300 s) would cut long uploads; the balancer's own timeouts apply.
    server.requestTimeout = 0;
    server.on("upgrade", nodeUpgradeListener(app.balancer.listenerApps[i]!.fetch as never, app.balancer.config.websocket));
    return server;
  }),
);

function drain(server: Server): Promise<void> {
  return new Promise<void>((done) => {
    // close() waits for active requests; idle keep-alive sockets would hold it open forever.
    server.close(() => done());
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    server.once("close", () => clearInterval(idle));
  });
}

app.balancer.healthChecks.start();
const shutdown = onShutdownSignal(app.balancer, {
  stopAccepting: async () => void (await Promise.all(servers.map(drain))),
  forceClose: () => servers.forEach((s) => s.closeAllConnections()),
  exit: (code) => process.exit(code),
});
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
