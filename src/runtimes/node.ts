/** Node entry (bundled by the CLI with esbuild, Node 20 cannot run TypeScript): @hono/node-server + undici pools. */
import { readFile } from "node:fs/promises";
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listening } from "./boot.ts";
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
const stop = () => {
  app.balancer.shuttingDown = true;
  server.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
