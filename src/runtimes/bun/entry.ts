/** Bun entry: `bun src/runtimes/bun.ts --config FILE [--port N]`. Bun's own fetch (keep-alive, sends the given Host). */
import { getConnInfo } from "hono/bun";
import type { Config } from "../../config/schema.ts";
import { commonPlatform, type Platform } from "../../platform.ts";
import { availableParallelism, hostname } from "node:os";
import { runServer } from "../server/run.ts";
import { stateOpeners } from "./stores.ts";
import { fetchUpstream } from "../upstream/fetch.ts";
import { bunWebSocket, bunWebSocketHandler } from "./websocket.ts";
import { coarseTimers } from "../server/timers.ts";
import { childProcessWorkers } from "../server/workers/spawn.ts";
import { errorDetail, internalError } from "../../proxy/errors.ts";
import { nodeDns } from "../server/dns.ts";

/** Codes of Bun's fetch for a request it will not send (checked before connecting). */
const MALFORMED = new Set(["ERR_HTTP_INVALID_HEADER_VALUE", "ERR_INVALID_HTTP_TOKEN", "ERR_INVALID_URL", "ERR_INVALID_ARG_VALUE"]);

/** Bun names the refused connect and the request it will not send; everything else broke after connecting. */
const bunUpstream = fetchUpstream((error) => {
  const code = (error as { code?: string }).code ?? "";
  if (MALFORMED.has(code)) return "malformed";
  return code === "ConnectionRefused" || code === "ECONNREFUSED" || code === "FailedToOpenSocket" ? "connect" : "reset";
});

/**
 * Bun's client timeouts are one socket idle timer (`idleTimeout`, whole seconds up to 255),
 * and it also runs while a request waits for its target or a streamed body pauses. So it is
 * `timeouts.clientIdle`, or the longest a target may keep a request silent (its connect plus
 * response timeout, or its read timeout) when that is longer, so that Bun never cuts what the
 * balancer's own timeouts allow (turning it off and on around each request, `server.timeout`,
 * would put two native calls and a promise on every request instead). A connection's first request has uWebSockets' fixed 10 s for its
 * headers whatever is configured (HttpResponseData's idleTimeout). Start-up says where the
 * configured values cannot be kept.
 */
export function bunIdleSeconds(config: Pick<Config, "timeouts" | "targetGroups">, log: (line: string) => void): number {
  const silent = Math.max(0, ...Object.values(config.targetGroups).map((g) => Math.max(g.timeouts.connect + g.timeouts.response, g.timeouts.read ?? 0)));
  const wanted = Math.max(config.timeouts.clientIdle, silent);
  const idle = Math.min(255, Math.ceil(wanted));
  if (idle < wanted) log(`fulcrum (bun): Bun's idle timer stops at 255s, shorter than the ${wanted}s a target may stay silent: such a request is cut at 255s`);
  else if (idle !== config.timeouts.clientIdle) {
    log(
      `fulcrum (bun): idle keep-alive connections close after ${idle}s (timeouts.clientIdle is ${config.timeouts.clientIdle}s, but Bun's one idle timer must outlast a target's timeouts)`,
    );
  }
  if (config.timeouts.clientHeader < 10) {
    log(
      `fulcrum (bun): timeouts.clientHeader ${config.timeouts.clientHeader}s applies from a connection's second request on; Bun gives the first one 10s for its headers`,
    );
  }
  return idle;
}

export const bunPlatform: Platform = {
  ...commonPlatform,
  runtime: "bun",
  upstream: bunUpstream,
  dns: nodeDns,
  clientAddress: (c) => getConnInfo(c).remote.address,
  timer: coarseTimers(commonPlatform.now),
  env: process.env,
  websocket: bunWebSocket,
};

/** `fulcrum serve` on Bun with these arguments (`--config FILE [--port N]`); the demo runs it too. */
export function serveOnBun(argv: readonly string[]): ReturnType<typeof runServer> {
  // Computed once (it says where Bun cannot keep the configured timeouts); client timeouts are restart-only.
  let idle: number | undefined;
  return runServer({
    argv,
    readText: (p) => Bun.file(p).text(),
    platform: bunPlatform,
    stores: stateOpeners,
    exit: (code) => process.exit(code),
    instance: `${hostname()}:${process.pid}`,
    parentPid: () => process.ppid,
    onSignal: (signal, handler) => void process.on(signal, handler),
    cpus: availableParallelism,
    // Each worker runs this entry again and binds the shared ports itself (SO_REUSEPORT).
    spawnWorker: childProcessWorkers([process.execPath, ...process.argv.slice(1)], process.env),
    bind(l, fetch, config, shared) {
      idle ??= bunIdleSeconds(config, (line) => console.error(line));
      const server = Bun.serve({
        port: l.port,
        hostname: l.host,
        reusePort: shared,
        fetch: fetch as (request: Request) => Response | Promise<Response>,
        websocket: bunWebSocketHandler(config.websocket),
        idleTimeout: idle,
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        // Bun's development mode answers an error with an HTML page carrying the stack trace; a client never sees one.
        development: false,
        error(error) {
          bunPlatform.log(`internal error: ${errorDetail(error)}`);
          return internalError();
        },
        ...(l.tls ? { tls: l.tls } : {}),
      });
      return {
        port: server.port ?? l.port,
        // Bun's stop() without force resolves once in-flight requests have completed.
        stop: () => server.stop(false),
        forceClose: () => void server.stop(true),
      };
    },
  });
}

if (import.meta.main) await serveOnBun(Bun.argv.slice(2));
