/**
 * What Bun, Deno and Node do alike with a balancer: boot it (read and check
 * the config, open the state store), bind its listeners (each runtime its own
 * way, listeners.ts), start the health checks, and handle signals: SIGTERM
 * and SIGINT start one graceful shutdown (shutdown.ts), SIGHUP reloads the
 * config (nginx's `-s reload` signal). A balancer started by `fulcrum serve`
 * also never outlives that launcher: when it goes, without passing a signal
 * on, the balancer shuts down as on SIGTERM (parent.ts).
 */
import type { BalancerApp } from "../../app/balancer.ts";
import { type Config, listenersOf } from "../../config/schema.ts";
import { dialHost } from "../../net/host.ts";
import type { Platform } from "../../platform.ts";
import type { StateOpeners } from "../../state/open.ts";
import { boot } from "./boot.ts";
import { BindError, type BootListener, type Bound, type Handler, ListenerSet } from "./listeners.ts";
import { watchParent } from "./parent.ts";
import { onShutdownSignal } from "./shutdown.ts";

export type ServerSignal = "SIGTERM" | "SIGINT" | "SIGHUP";

export interface ServerRuntime {
  readonly argv: readonly string[];
  readonly readText: (path: string) => Promise<string>;
  readonly platform: Platform;
  readonly stores: StateOpeners;
  readonly exit: (code: number) => never;
  /** This instance's name in the change log (`host:pid`). */
  readonly instance: string;
  /** The parent's pid now (it changes when the parent exits), to follow the launcher that started this one. */
  readonly parentPid?: () => number;
  /** Whether a second port can be bound for the admin API (Deno Deploy serves one). Default true. */
  readonly secondPort?: boolean;
  /** Bind one listener; throws or rejects with the OS's error when it cannot. */
  bind(listener: BootListener, handler: Handler, config: Config): Bound | Promise<Bound>;
  onSignal(signal: ServerSignal, handler: () => void): void;
}

export async function runServer(rt: ServerRuntime): Promise<BalancerApp> {
  const secondPort = rt.secondPort ?? true;
  const { app } = await boot(rt.argv, rt.readText, rt.platform, rt.exit, { stores: rt.stores, secondPort, instance: rt.instance });
  const balancer = app.balancer;
  const log = (line: string) => console.error(line);
  const listeners = new ListenerSet({ runtime: rt.platform.runtime, readText: rt.readText, log, secondPort, bind: rt.bind }, (key) => balancer.handler(key));
  try {
    await listeners.start(balancer.config);
  } catch (error) {
    log(error instanceof BindError ? error.message : `fulcrum: ${(error as Error).message}`);
    return rt.exit(1);
  }
  balancer.attachListeners(listeners);
  for (const line of startupSummary(balancer, rt.platform.runtime)) log(line);
  balancer.startHealthChecks();
  const shutdown = onShutdownSignal(balancer, { stopAccepting: () => listeners.stopAccepting(), forceClose: () => listeners.forceClose(), exit: rt.exit });
  rt.onSignal("SIGTERM", () => shutdown("SIGTERM"));
  rt.onSignal("SIGINT", () => shutdown("SIGINT"));
  rt.onSignal("SIGHUP", () => {
    log("fulcrum: SIGHUP: reloading the config");
    // A refusal is logged by the balancer, with its problems.
    balancer.reload("SIGHUP").then((r) => log(`fulcrum: ${r.message}`), () => {});
  });
  const supervisor = Number(rt.platform.env.FULCRUM_SUPERVISOR_PID);
  if (rt.parentPid && Number.isInteger(supervisor) && supervisor > 0) {
    watchParent(supervisor, rt.parentPid, () => {
      log("fulcrum: the fulcrum serve process that started this balancer is gone; shutting down");
      shutdown("SIGTERM");
    });
  }
  return app;
}

/**
 * What start-up says beside the listeners: the config it serves, each group with its targets,
 * and where the balancer's own endpoints are (nginx -T and HAProxy's start-up say as much).
 */
export function startupSummary(balancer: BalancerApp["balancer"], runtime: string): string[] {
  const status = balancer.status();
  const config = balancer.config;
  const first = listenersOf(config)[0]!;
  // Port 0 (the system chose): the listener line above has the port; here the paths alone.
  const base = first.port === 0 ? "" : `${first.protocol === "HTTPS" ? "https" : "http"}://${dialHost(first.host)}:${first.port}`;
  const own = [
    `health ${base}${config.admin.healthPath}`,
    ...(config.admin.stats ? [`stats ${base}${config.admin.stats.path}`] : []),
    ...(config.admin.metrics ? [`metrics ${base}${config.admin.metrics.path}`] : []),
  ];
  return [
    `fulcrum (${runtime}) config ${status.config.location} (version ${status.config.version}), state store ${status.store.kind}`,
    ...status.groups.map((g) => {
      const shown = g.targets.slice(0, 10).map((t) => (t.name ? `${t.name} ${t.url}` : t.url));
      const more = g.targets.length > 10 ? `, and ${g.targets.length - 10} more (fulcrum status)` : "";
      return `fulcrum (${runtime}) group ${g.name} (${g.strategy}): ${shown.join(", ")}${more}`;
    }),
    `fulcrum (${runtime}) ${own.join(", ")}`,
  ];
}
