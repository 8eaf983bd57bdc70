/**
 * `npm start`: three demo backends and the balancer in front of them, in one
 * Bun process, state in memory. It is `fulcrum serve` on a config written to
 * a temporary file: blue (alpha, beta) and green (gamma), the admin API on its
 * default 127.0.0.1:9901 with the stats page and its actions, so that
 * `npx fulcrum status`, `route`, `drain` and `reload` work against it as they
 * would against a real deployment. Each backend answers with its name.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveOnBun } from "./runtimes/bun/entry.ts";
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
const target = (i: number) => ({ name: ["alpha", "beta", "gamma"][i], url: `http://127.0.0.1:${backends[i]!.port}` });
const healthCheck = { path: "/health", interval: 2, timeout: 1 };

const config = {
  listen: { port, host: "127.0.0.1" },
  targetGroups: {
    blue: { targets: [target(0), target(1)], healthCheck, deregistrationDelay: 5 },
    green: { targets: [target(2)], healthCheck, deregistrationDelay: 5 },
  },
  defaultAction: { forward: "blue" },
  // admin.api is on by default on 127.0.0.1:9901, with the stats page at its root.
  admin: { metrics: { path: "/__fulcrum/metrics" } },
};
const dir = mkdtempSync(join(tmpdir(), "fulcrum-demo-"));
const file = join(dir, "fulcrum.json");
writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

await serveOnBun(["--config", file]);
const url = `http://127.0.0.1:${port}`;
const tries = [
  [`curl -s ${url}/hello`, "alpha and beta in turn (blue)"],
  ["npx fulcrum status", "groups, targets, rules, overrides"],
  ["npx fulcrum route default green", "blue/green: every request to gamma now"],
  ["npx fulcrum route default blue=9 green=1", "or a 10 % canary"],
  ["npx fulcrum drain blue alpha", "maintenance: alpha takes no new requests"],
  ["npx fulcrum events", "who changed what, when"],
  ["npx fulcrum reload", "after editing the config file above"],
].map(([command, what]) => `  ${command!.padEnd(42)} # ${what}`).join("\n");
console.log(`
Fulcrum demo: balancer on ${url}, target groups blue (alpha, beta) and green (gamma), state in memory.
Config file: ${file}   stats page with actions: http://127.0.0.1:9901/

Try, in another terminal of this directory:
${tries}
Ctrl-C to stop.`);
