/** Bun entry: `bun src/runtimes/bun.ts --config FILE [--port N]`. Bun's fetch with `decompress: false`. */
import { getConnInfo } from "hono/bun";
import { commonPlatform, UpstreamError, type Platform, type UpstreamRequest } from "../platform.ts";
import { boot, listening } from "./boot.ts";
import { coarseDeadlines } from "./deadlines.ts";
import { onShutdownSignal } from "./shutdown.ts";

async function bunUpstream(req: UpstreamRequest): Promise<Response> {
  try {
    return await fetch(req.origin + req.path, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      signal: req.signal,
      decompress: false,
      // Bun keeps connections alive by default and sends the given Host header.
    } as RequestInit);
  } catch (error) {
    if (req.signal.aborted) throw error;
    const code = (error as { code?: string }).code ?? "";
    const kind = code === "ConnectionRefused" || code === "ECONNREFUSED" || code === "FailedToOpenSocket" ? "connect" : "reset";
    throw new UpstreamError(kind, (error as Error).message, { cause: error });
  }
}

export const bunPlatform: Platform = {
  ...commonPlatform,
  runtime: "bun",
  upstream: bunUpstream,
  clientAddress: (c) => getConnInfo(c).remote.address,
  mutableUpstreamResponses: true,
  deadline: coarseDeadlines(commonPlatform.now),
  env: process.env,
};

if (import.meta.main) {
  const { app, listeners } = await boot(Bun.argv.slice(2), (p) => Bun.file(p).text(), bunPlatform, (code) => process.exit(code));
  const servers = listeners.map((l, i) => {
    const server = Bun.serve({
      port: l.port,
      hostname: l.host,
      fetch: app.balancer.listenerApps[i]!.fetch,
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
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
