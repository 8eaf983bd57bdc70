/**
 * What Bun, Deno and Node do alike with a balancer: read and check the
 * config, then serve it one of three ways. Alone (the default): open the
 * state store, boot the balancer, bind every listener (serving.ts). With
 * `--workers N` (or `workers` in the config), this process is the host's
 * primary (workers/primary.ts): it holds the store, serves the admin API and
 * starts N worker processes, which run this same entry and find their
 * primary in their environment (workers/worker.ts).
 */
import type { BalancerApp } from "../../app/balancer.ts";
import { boot, readStartConfig } from "./boot.ts";
import { runPrimary } from "./workers/primary.ts";
import { runWorker, workerEnvOf } from "./workers/worker.ts";
import { handleSignals, serveListeners, startupSummary } from "./serving.ts";
import type { ServerRuntime } from "./runtime.ts";

export async function runServer(rt: ServerRuntime): Promise<BalancerApp> {
  // A worker takes its primary's config, not the file as it is now.
  const worker = workerEnvOf(rt.platform.env);
  if (worker) return runWorker(rt, worker);
  const start = await readStartConfig(rt.argv, rt.readText, rt.platform, rt.exit);
  const count = workerCount(start.args.workers ?? start.loaded.config.workers, rt);
  if (count !== undefined) return runPrimary(rt, start, count);
  const { app } = await boot(start, rt.readText, rt.platform, rt.exit, { stores: rt.stores, secondPort: rt.secondPort ?? true, instance: rt.instance });
  const { shutdown } = await serveListeners(rt, app.balancer, { only: "all", shared: false });
  for (const line of startupSummary(app.balancer, rt.platform.runtime)) console.error(line);
  app.balancer.startTimers();
  handleSignals(rt, app.balancer, shutdown);
  return app;
}

/** How many workers `--workers`/`workers` asks for (`auto`: the CPUs), or undefined for one process serving alone; exits 1 where the runtime has none. */
function workerCount(asked: number | "auto" | undefined, rt: ServerRuntime): number | undefined {
  if (asked === undefined) return undefined;
  if (!rt.spawnWorker) {
    console.error(
      `fulcrum: workers: ${rt.platform.runtime} cannot start worker processes here${
        rt.platform.runtime === "deno" ? " (--deno-server node has no shared port; use Deno.serve, the default)" : ""
      }`,
    );
    return rt.exit(1);
  }
  return asked === "auto" ? Math.max(1, rt.cpus?.() ?? 1) : asked;
}
