/**
 * `npm start`: three demo backends and the balancer in front of them, in one
 * Bun process, state in memory. Each backend answers with its name so round
 * robin is visible from curl.
 */
import { createBalancer } from "./app/balancer.ts";
import { validateConfig } from "./config/load.ts";
import { bunPlatform } from "./runtimes/bun/entry.ts";
import { parseEntryArgs } from "./runtimes/server/args.ts";

const portArg = Bun.argv.indexOf("--port");
const port = portArg > 0 ? parseEntryArgs(["--config", "-", "--port", Bun.argv[portArg + 1] ?? ""]).port! : Number(process.env.PORT ?? 8080);

const backends = ["alpha", "beta", "gamma"].map((name) =>
  Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/health") return Response.json({ status: "ok", backend: name });
      return Response.json({
        backend: name,
        method: req.method,
        path: url.pathname + url.search,
        forwardedFor: req.headers.get("x-forwarded-for"),
        requestId: req.headers.get("x-request-id"),
      });
    },
  })
);

const config = validateConfig({
  listen: { port },
  targetGroups: {
    demo: {
      strategy: "round_robin",
      targets: backends.map((b) => ({ url: `http://127.0.0.1:${b.port}` })),
    },
  },
  defaultAction: { forward: "demo" },
});

const app = createBalancer(config, bunPlatform);
const server = Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch });
const url = `http://127.0.0.1:${server.port}`;
console.log(`Fulcrum demo: balancer on ${url} in front of ${backends.length} backends (${backends.map((b) => b.port).join(", ")}), round robin, state in memory.

Try:
  curl -s ${url}/hello        # run it a few times: alpha, beta, gamma in turn
  curl -s ${url}${config.admin.healthPath}

Ctrl-C to stop.`);
const stop = () => {
  server.stop(true);
  for (const b of backends) b.stop(true);
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
