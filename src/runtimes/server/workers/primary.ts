/**
 * The primary process of a host of workers (`--workers N`), what nginx calls
 * the master: it opens the state store once for the host (memory, or the
 * connection to Redis or Deno KV) and lends it to its workers over their
 * channels (hub.ts); serves the admin API once per host, with the stats page
 * showing the host as a whole; and starts, restarts and stops the workers
 * (supervisor.ts). Its own balancer binds only the admin API's listener and
 * takes part in the host's probing like any instance sharing a store. It
 * serves no traffic: a worker that dies takes only its own connections.
 *
 * Signals: SIGHUP reloads (the workers follow, through the store, as
 * instances sharing a config do), SIGUSR2 replaces the workers one by one
 * (nginx's binary upgrade signal), SIGTERM and SIGINT stop the workers
 * gracefully and then the primary.
 */
import type { BalancerApp } from "../../../app/balancer.ts";
import type { LoadedConfig } from "../../../app/config-source.ts";
import type { HostView, HostWorkers } from "../../../metrics/export.ts";
import { errorDetail } from "../../../proxy/errors.ts";
import { MemoryStateStore } from "../../../state/memory.ts";
import { openStateStore } from "../../../state/open.ts";
import type { StateStore } from "../../../state/store.ts";
import type { EntryArgs } from "../args.ts";
import { boot } from "../boot.ts";
import type { ServerRuntime } from "../runtime.ts";
import { serveListeners, startupSummary } from "../serving.ts";
import { watchParent } from "../parent.ts";
import { Hub } from "./hub.ts";
import { rebuildCommand } from "./spawn.ts";
import { Supervisor } from "./supervisor.ts";

/** Time for workers to finish beyond their own shutdown grace and deadline before they are killed. */
const STOP_MARGIN_MS = 5_000;

export async function runPrimary(rt: ServerRuntime, start: { readonly args: EntryArgs; readonly loaded: LoadedConfig }, count: number): Promise<BalancerApp> {
  const log = (line: string) => console.error(line);
  const config = start.loaded.config;
  const runtime = rt.platform.runtime;
  let store: StateStore;
  try {
    store = config.state.store === "memory" ? new MemoryStateStore({ shared: true }) : await openStateStore(config.state, rt.stores, rt.platform, runtime);
  } catch (error) {
    log(`fulcrum: ${(error as Error).message}`);
    return rt.exit(1);
  }
  const token = [...crypto.getRandomValues(new Uint8Array(24))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const pid = Number(rt.instance.split(":").pop());
  const spawn = rt.spawnWorker!;
  const rebuild = rebuildCommand(rt.platform.env);
  // The workers it starts find the hub (started below, before any of them) in their environment.
  const supervisor = new Supervisor({
    count,
    spawn: (env) => spawn({ ...env, FULCRUM_WORKER_HUB: String(hub.port), FULCRUM_WORKER_TOKEN: token, FULCRUM_SUPERVISOR_PID: String(pid) }),
    onReady: (serial, cb) => hub.onReady(serial, cb),
    log,
    ...(rebuild ? { rebuild } : {}),
  });
  const host: HostWorkers = {
    view: async (): Promise<HostView> => ({ exports: await hub.exports(), workers: supervisor.workers(), restarts: supervisor.restarts }),
    restart: (by) => supervisor.restart(by),
  };
  const hub = await Hub.start(store, token, host);

  const { app } = await boot(start, rt.readText, rt.platform, rt.exit, {
    workers: host,
    store: () => Promise.resolve(store),
    sharedSource: true,
    secondPort: rt.secondPort ?? true,
    instance: `${rt.instance} primary`,
  });
  const balancer = app.balancer;
  const { listeners } = await serveListeners(rt, balancer, { only: "admin", shared: false });
  try {
    await supervisor.start();
  } catch (error) {
    log(`fulcrum: workers: ${(error as Error).message}`);
    return rt.exit(1);
  }
  for (const line of startupSummary(balancer, runtime)) log(line);
  log(`fulcrum (${runtime}) primary (pid ${pid}) with ${count} worker(s): pids ${supervisor.workers().map((w) => w.pid).join(", ")}`);
  balancer.startHealthChecks();

  let stopping: Promise<never> | undefined;
  const stop = (signal: string): Promise<never> =>
    stopping ??= (async () => {
      log(`fulcrum: ${signal}: stopping the workers gracefully`);
      balancer.shuttingDown = true;
      balancer.stopHealthChecks();
      const { grace, deadline } = balancer.config.shutdown;
      await supervisor.stop((grace + deadline) * 1000 + STOP_MARGIN_MS);
      listeners.forceClose();
      hub.close();
      await store.close().catch(() => {});
      log("fulcrum: workers stopped");
      return rt.exit(0);
    })();
  rt.onSignal("SIGTERM", () => void stop("SIGTERM"));
  rt.onSignal("SIGINT", () => void stop("SIGINT"));
  rt.onSignal("SIGHUP", () => {
    log("fulcrum: SIGHUP: reloading the config (the workers follow)");
    balancer.reload("SIGHUP").then((r) => log(`fulcrum: ${r.message}`), () => {});
  });
  rt.onSignal("SIGUSR2", () => {
    log("fulcrum: SIGUSR2: replacing the workers one by one");
    supervisor.restart("SIGUSR2").catch((error: unknown) => log(`fulcrum: restart refused: ${errorDetail(error)}`));
  });
  const launcher = Number(rt.platform.env.FULCRUM_SUPERVISOR_PID);
  if (rt.parentPid && Number.isInteger(launcher) && launcher > 0) {
    watchParent(launcher, rt.parentPid, () => void stop("the process that started this balancer is gone:"));
  }
  return app;
}
