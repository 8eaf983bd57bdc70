/** Node entry (bundled by the CLI with esbuild, Node 20 cannot run TypeScript): @hono/node-server + undici pools. */
import { readFile } from "node:fs/promises";
import { getConnInfo } from "@hono/node-server/conninfo";
import { commonPlatform, type Platform } from "../../platform.ts";
import { runServer } from "../server/run.ts";
import { stateOpeners } from "./stores.ts";
import { coarseTimers } from "../server/timers.ts";
import { bindNodeHttp, clientConnections } from "./http.ts";
import { availableParallelism, hostname } from "node:os";
import { clusterWorkers } from "./cluster.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import { nodeWebSocket } from "./websocket.ts";
import { nodeDns } from "../server/dns.ts";

export const nodePlatform: Platform = {
  ...commonPlatform,
  runtime: "node",
  upstream: undiciUpstream,
  dns: nodeDns,
  clientAddress: (c) => getConnInfo(c).remote.address,
  timer: coarseTimers(commonPlatform.now),
  env: process.env,
  websocket: nodeWebSocket,
  clientConnections,
};

await runServer({
  argv: process.argv.slice(2),
  readText: (p) => readFile(p, "utf8"),
  platform: nodePlatform,
  stores: stateOpeners,
  exit: (code) => process.exit(code),
  instance: `${hostname()}:${process.pid}`,
  parentPid: () => process.ppid,
  onSignal: (signal, handler) => void process.on(signal, handler),
  cpus: availableParallelism,
  spawnWorker: clusterWorkers,
  bind: bindNodeHttp,
});
