/** Node entry (bundled by the CLI with esbuild, Node 20 cannot run TypeScript): @hono/node-server + undici pools. */
import { readFile } from "node:fs/promises";
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listening } from "./boot.ts";
import { onShutdownSignal } from "./shutdown.ts";
import { undiciUpstream } from "./undici-upstream.ts";

export const nodePlatform: Platform = {
  ...commonPlatform,
  runtime: "node",
  upstream: undiciUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  env: process.env,
};

const { app, port, host } = await boot(process.argv.slice(2), (p) => readFile(p, "utf8"), nodePlatform, (code) => process.exit(code));
const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => console.error(listening("node", host, info.port)));
// Node's default requestTimeout (300 s) would cut long uploads; the balancer's own timeouts apply.
(server as import("node:http").Server).requestTimeout = 0;
const http = server as import("node:http").Server;
const shutdown = onShutdownSignal(app.balancer, {
  stopAccepting: () =>
    new Promise<void>((done) => {
      // close() waits for active requests; idle keep-alive sockets would hold it open forever.
      http.close(() => done());
      http.closeIdleConnections();
      const idle = setInterval(() => http.closeIdleConnections(), 100);
      http.once("close", () => clearInterval(idle));
    }),
  forceClose: () => http.closeAllConnections(),
  exit: (code) => process.exit(code),
});
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
