/**
 * What every serving process does with its balancer, alone or as a host's
 * worker or primary: bind its listeners (each runtime its own way,
 * listeners.ts), prepare one graceful shutdown (shutdown.ts), answer SIGHUP
 * with a reload (nginx's `-s reload` signal), follow the process that
 * started it (parent.ts), and say at start-up what it serves.
 */
import type { Balancer } from "../../app/balancer.ts";
import { listenersOf } from "../../config/schema.ts";
import { dialHost } from "../../net/host.ts";
import { BindError, ListenerSet } from "./listeners.ts";
import { watchParent } from "./parent.ts";
import type { ServerRuntime } from "./runtime.ts";
import { onShutdownSignal } from "./shutdown.ts";

/** What a serving process keeps of its listeners: the shutdown it starts on SIGTERM/SIGINT. */
export interface Serving {
  readonly listeners: ListenerSet;
  readonly shutdown: (signal: "SIGTERM" | "SIGINT") => void;
}

/**
 * Bind `balancer`'s listeners (`only` the traffic ones in a worker, the admin API's in a
 * primary) and prepare its graceful shutdown; exits 1 with the one line of a failed bind.
 */
export async function serveListeners(
  rt: ServerRuntime,
  balancer: Balancer,
  options: { readonly only: "all" | "traffic" | "admin"; readonly shared: boolean; readonly exit?: (code: number) => void },
): Promise<Serving> {
  const log = (line: string) => console.error(line);
  const listeners = new ListenerSet(
    {
      runtime: rt.platform.runtime,
      readText: rt.readText,
      log,
      secondPort: rt.secondPort ?? true,
      only: options.only,
      bind: (l, h, c) => rt.bind(l, h, c, options.shared),
    },
    (key) => balancer.handler(key),
  );
  try {
    await listeners.start(balancer.config);
  } catch (error) {
    log(error instanceof BindError ? error.message : `fulcrum: ${(error as Error).message}`);
    return rt.exit(1);
  }
  balancer.attachListeners(listeners);
  const exit = options.exit ?? rt.exit;
  const shutdown = onShutdownSignal(balancer, { stopAccepting: () => listeners.stopAccepting(), forceClose: () => listeners.forceClose(), exit });
  return { listeners, shutdown };
}

/**
 * SIGTERM and SIGINT shut down, SIGHUP reloads (this balancer, or through `reload` the host it is a
 * worker of); SIGUSR2 is said to be ignored rather than left to end the process (its default). A
 * launcher that goes away is a SIGTERM.
 */
export function handleSignals(
  rt: ServerRuntime,
  balancer: Balancer,
  shutdown: (signal: "SIGTERM" | "SIGINT") => void,
  options: { readonly reload?: (by: string) => Promise<string>; readonly usr2?: string } = {},
): void {
  const log = (line: string) => console.error(line);
  const reload = options.reload ?? ((by: string) => balancer.reload(by).then((r) => r.message));
  rt.onSignal("SIGTERM", () => shutdown("SIGTERM"));
  rt.onSignal("SIGINT", () => shutdown("SIGINT"));
  rt.onSignal("SIGHUP", () => {
    log("fulcrum: SIGHUP: reloading the config");
    // A refusal is logged by the balancer, with its problems; a host's answer here.
    reload("SIGHUP").then((message) => log(`fulcrum: ${message}`), (error: unknown) => options.reload && log(`fulcrum: reload: ${(error as Error).message}`));
  });
  rt.onSignal(
    "SIGUSR2",
    () => log(`fulcrum: ${options.usr2 ?? "SIGUSR2 ignored: replacing processes without a gap needs --workers (then fulcrum restart, or SIGUSR2)"}`),
  );
  const supervisor = Number(rt.platform.env.FULCRUM_SUPERVISOR_PID);
  if (rt.parentPid && Number.isInteger(supervisor) && supervisor > 0) {
    watchParent(supervisor, rt.parentPid, () => {
      log("fulcrum: the process that started this balancer is gone; shutting down");
      shutdown("SIGTERM");
    });
  }
}

/**
 * What start-up says beside the listeners: the config it serves, each group with its targets,
 * and where the balancer's own endpoints are (nginx -T and HAProxy's start-up say as much).
 */
export function startupSummary(balancer: Balancer, runtime: string): string[] {
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
