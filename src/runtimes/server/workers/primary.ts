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
 * The config is the primary's: it reads the file, and a worker, whether it
 * starts with the host or replaces one, takes the primary's text. A reload
 * reloads the primary and then each worker with that text, and says which
 * refused. Signals: SIGHUP reloads, SIGUSR2 replaces the workers one by one
 * (nginx's binary upgrade signal), SIGTERM and SIGINT stop the workers
 * gracefully and then the primary.
 */
import type { BalancerApp } from "../../../app/balancer.ts";
import type { LoadedConfig } from "../../../app/config-source.ts";
import type { HostWorkers } from "../../../app/host.ts";
import { AdminError } from "../../../admin/ops.ts";
import type { ReloadResult } from "../../../admin/api-schema.ts";
import { listenerKey, listenersOf } from "../../../config/schema.ts";
import type { HostView } from "../../../metrics/export.ts";
import { MemoryStateStore } from "../../../state/memory.ts";
import { openStateStore } from "../../../state/open.ts";
import type { StateStore } from "../../../state/store.ts";
import type { EntryArgs } from "../args.ts";
import { boot, listenFailure } from "../boot.ts";
import type { ServerRuntime } from "../runtime.ts";
import { serveListeners, startupSummary } from "../serving.ts";
import { watchParent } from "../parent.ts";
import { Hub } from "./hub.ts";
import { portTaken } from "./ports.ts";
import { rebuildCommand } from "./spawn.ts";
import { Supervisor } from "./supervisor.ts";

/** Time for workers to finish beyond their own shutdown grace and deadline before they are killed. */
const STOP_MARGIN_MS = 5_000;

export async function runPrimary(rt: ServerRuntime, start: { readonly args: EntryArgs; readonly loaded: LoadedConfig }, count: number): Promise<BalancerApp> {
  const log = (line: string) => console.error(line);
  const config = start.loaded.config;
  const runtime = rt.platform.runtime;
  // The workers bind the traffic ports together; something else on one would silently take a share.
  const problem = await trafficPortProblem(listenersOf(config), []);
  if (problem) {
    log(problem);
    return rt.exit(1);
  }
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
    spawn: (env, code) => spawn({ ...env, FULCRUM_WORKER_HUB: String(hub.port), FULCRUM_WORKER_TOKEN: token, FULCRUM_SUPERVISOR_PID: String(pid) }, code),
    onReady: (serial, cb) => hub.onReady(serial, cb),
    retire: (serial) => hub.links().find((l) => l.serial === serial)?.channel.request("retire", undefined, 2000) ?? Promise.resolve(),
    log,
    ...(rebuild ? { rebuild } : {}),
  });
  const startedAt = rt.platform.now();
  // Booted below, after the hub that its workers will need.
  const served: { app?: BalancerApp } = {};
  const host: HostWorkers = {
    view: async (): Promise<HostView> => ({
      exports: await hub.exports(),
      workers: supervisor.workers(),
      restarts: supervisor.restarts,
      uptimeSeconds: (rt.platform.now() - startedAt) / 1000,
    }),
    restart: (by) => supervisor.restart(by),
    reload: (by) => reloadHost(served.app!, hub, by, log),
  };
  const hub = await Hub.start(store, token, {
    ...host,
    config: () => ({ text: served.app?.balancer.fileText ?? start.loaded.text ?? "" }),
  }, rt.platform.now);

  const { app } = await boot(start, rt.readText, rt.platform, rt.exit, {
    workers: host,
    store: () => Promise.resolve(store),
    secondPort: rt.secondPort ?? true,
    instance: `${rt.instance} primary`,
  });
  served.app = app;
  const balancer = app.balancer;
  const { listeners } = await serveListeners(rt, balancer, { only: "admin", shared: false });

  let stopping: Promise<never> | undefined;
  const stop = (why: string): Promise<never> =>
    stopping ??= (async () => {
      log(`fulcrum: ${why}: stopping the workers gracefully`);
      balancer.shuttingDown = true;
      balancer.stopTimers();
      const { grace, deadline } = balancer.config.shutdown;
      await supervisor.stop((grace + deadline) * 1000 + STOP_MARGIN_MS);
      listeners.forceClose();
      hub.close();
      await store.close().catch(() => {});
      log("fulcrum: workers stopped");
      return rt.exit(0);
    })();
  // Before the workers start (which takes a while): a signal meanwhile is acted on, not fatal.
  rt.onSignal("SIGTERM", () => void stop("SIGTERM"));
  rt.onSignal("SIGINT", () => void stop("SIGINT"));
  rt.onSignal("SIGHUP", () => {
    log("fulcrum: SIGHUP: reloading the config on the primary and every worker");
    host.reload("SIGHUP").then((r) => log(`fulcrum: ${r.message}`), (error: unknown) => log(`fulcrum: reload: ${(error as Error).message}`));
  });
  rt.onSignal("SIGUSR2", () => {
    log("fulcrum: SIGUSR2: replacing the workers one by one");
    supervisor.restart("SIGUSR2").catch((error: unknown) => log(`fulcrum: restart refused: ${(error as Error).message}`));
  });
  const launcher = Number(rt.platform.env.FULCRUM_SUPERVISOR_PID);
  if (rt.parentPid && Number.isInteger(launcher) && launcher > 0) {
    watchParent(launcher, rt.parentPid, () => void stop("the process that started this balancer is gone"));
  }

  try {
    await supervisor.start();
  } catch (error) {
    if (stopping) return stopping;
    log(`fulcrum: workers: ${(error as Error).message}`);
    return rt.exit(1);
  }
  for (const line of startupSummary(balancer, runtime)) log(line);
  log(`fulcrum (${runtime}) primary (pid ${pid}) with ${count} worker(s): pids ${supervisor.workers().map((w) => w.pid).join(", ")}`);
  balancer.startTimers();
  return app;
}

/**
 * A traffic listener of the workers that something else holds, or port 0 (each worker would get a
 * port of its own): the one line start-up or a reload prints. `bound`: keys the workers serve already.
 */
async function trafficPortProblem(listeners: ReturnType<typeof listenersOf>, bound: readonly string[]): Promise<string | undefined> {
  for (const [i, l] of listeners.entries()) {
    if (bound.includes(listenerKey(l, i))) continue;
    if (l.port === 0) return `fulcrum: listen[${i}].port: 0 with workers would give each worker a port of its own; give a port`;
    const taken = await portTaken(l.host, l.port);
    if (taken) return listenFailure(l, l.port, taken);
  }
  return undefined;
}

/**
 * Reload the host: the file is read and checked once, a port it adds is checked before anything
 * changes, the primary reloads, then every worker takes the primary's text. A worker that refuses
 * is named in the answer (422), and serves the config it had.
 */
async function reloadHost(app: BalancerApp, hub: Hub, by: string, log: (line: string) => void): Promise<ReloadResult> {
  const balancer = app.balancer;
  let loaded: LoadedConfig;
  try {
    loaded = await balancer.source.read();
  } catch {
    // The balancer words it, and records the refusal.
    return balancer.reload(by);
  }
  const served = listenersOf(balancer.config).map((l, i) => listenerKey(l, i));
  const problem = await trafficPortProblem(listenersOf(loaded.config), served);
  if (problem) throw new AdminError(422, `${problem.replace(/^fulcrum: /, "")}; nothing changed`);
  const result = await balancer.reload(by, { config: loaded });
  await balancer.settled();
  const links = hub.links();
  const answers = await Promise.allSettled(links.map((l) => l.channel.request("reload", { text: loaded.text, by }, 60_000)));
  const refused = answers.flatMap((a, i) => (a.status === "rejected" ? [`worker ${links[i]!.slot}: ${(a.reason as Error).message}`] : []));
  if (refused.length === 0) return result;
  log(`fulcrum: reload: ${refused.length} of ${links.length} worker(s) refused it: ${refused.join("; ")}`);
  throw new AdminError(
    422,
    `${result.message}; but ${refused.length} of ${links.length} worker(s) refused it and serve the config they had (fulcrum events)`,
    refused,
  );
}
