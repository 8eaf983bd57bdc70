/**
 * What Bun, Deno and Node do alike with a balancer: boot it (read and check
 * the config, open the state store), bind its listeners (each runtime its own
 * way), start the health checks, and turn SIGTERM and SIGINT into one
 * graceful shutdown (shutdown.ts). Each entry passes only what differs.
 */
import type { BalancerApp } from "../../app/balancer.ts";
import type { Config } from "../../config/schema.ts";
import type { Platform } from "../../platform.ts";
import type { StateOpeners } from "../../state/open.ts";
import { boot, type BootListener } from "./boot.ts";
import { onShutdownSignal, type ShutdownHooks, type ShutdownSignal } from "./shutdown.ts";

export interface ServerRuntime {
  readonly argv: readonly string[];
  readonly readText: (path: string) => Promise<string>;
  readonly platform: Platform;
  readonly stores: StateOpeners;
  readonly exit: (code: number) => never;
  /** Bind every listener (a failed bind prints its one line and exits); returns how to stop them. */
  serve(app: BalancerApp, listeners: readonly BootListener[], config: Config): Omit<ShutdownHooks, "exit">;
  onSignal(signal: ShutdownSignal, handler: () => void): void;
}

export async function runServer(rt: ServerRuntime): Promise<BalancerApp> {
  const { app, config, listeners } = await boot(rt.argv, rt.readText, rt.platform, rt.exit, rt.stores);
  const hooks = rt.serve(app, listeners, config);
  app.balancer.startHealthChecks();
  const shutdown = onShutdownSignal(app.balancer, { ...hooks, exit: rt.exit });
  rt.onSignal("SIGTERM", () => shutdown("SIGTERM"));
  rt.onSignal("SIGINT", () => shutdown("SIGINT"));
  return app;
}
