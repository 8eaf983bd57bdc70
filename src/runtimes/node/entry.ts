/** Node entry (bundled by the CLI with esbuild, Node 20 cannot run TypeScript): @hono/node-server + undici pools. */
import { readFile } from "node:fs/promises";
import { getConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot } from "./boot.ts";
import { stateOpeners } from "./node-stores.ts";
import { coarseDeadlines } from "./deadlines.ts";
import { serveNodeHttp } from "./node-http.ts";
import { onShutdownSignal } from "./shutdown.ts";
import { undiciUpstream } from "./undici-upstream.ts";
import { nodeWebSocket } from "./websocket-node.ts";

export const nodePlatform: Platform = {
  ...commonPlatform,
  runtime: "node",
  upstream: undiciUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  deadline: coarseDeadlines(commonPlatform.now),
  env: process.env,
  websocket: nodeWebSocket,
};

const exit = (code: number) => process.exit(code);
const { app, config, listeners } = await boot(process.argv.slice(2), (p) => readFile(p, "utf8"), nodePlatform, exit, stateOpeners);
const { hooks } = serveNodeHttp(app, listeners, config.timeouts, exit);
app.balancer.healthChecks.start();
const shutdown = onShutdownSignal(app.balancer, { ...hooks, exit });
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
