/** Bun entry: `bun src/runtimes/bun.ts --config FILE [--port N]`. Bun's own fetch (keep-alive, sends the given Host). */
import { getConnInfo } from "hono/bun";
import { commonPlatform, type Platform } from "../platform.ts";
import { boot, listening } from "./boot.ts";
import { stateOpeners } from "./bun-stores.ts";
import { fetchUpstream } from "./fetch-upstream.ts";
import { bunWebSocket, bunWebSocketHandler } from "./websocket-bun.ts";
import { coarseDeadlines } from "./deadlines.ts";
import { onShutdownSignal } from "./shutdown.ts";

/** Bun names the refused connect; everything else broke after connecting. */
const bunUpstream = fetchUpstream((error) => {
  const code = (error as { code?: string }).code ?? "";
  return code === "ConnectionRefused" || code === "ECONNREFUSED" || code === "FailedToOpenSocket" ? "connect" : "reset";
});

export const bunPlatform: Platform = {
  ...commonPlatform,
  runtime: "bun",
  upstream: bunUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  mutableUpstreamResponses: true,
  deadline: coarseDeadlines(commonPlatform.now),
  env: process.env,
  websocket: bunWebSocket,
};

if (import.meta.main) {
  const { app, listeners } = await boot(Bun.argv.slice(2), (p) => Bun.file(p).text(), bunPlatform, (code) => process.exit(code), stateOpeners);
  const servers = listeners.map((l, i) => {
    const server = Bun.serve({
      port: l.port,
      hostname: l.host,
      fetch: app.balancer.listenerApps[i]!.fetch,
      websocket: bunWebSocketHandler(app.balancer.config.websocket),
      idleTimeout: 255,
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      ...(l.certificate ? { tls: { cert: Bun.file(l.certificate.certFile), key: Bun.file(l.certificate.keyFile) } } : {}),
    });
    console.error(listening("bun", l, server.port ?? l.port));
    return server;
  });
  app.balancer.healthChecks.start();
  const shutdown = onShutdownSignal(app.balancer, {
    // Bun's stop() without force resolves once in-flight requests have completed.
    stopAccepting: async () => void (await Promise.all(servers.map((s) => s.stop(false)))),
    forceClose: () => servers.forEach((s) => void s.stop(true)),
    exit: (code) => process.exit(code),
  });
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}
