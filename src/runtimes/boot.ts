/**
 * Start-up shared by the server runtimes (Bun, Deno, Node): read and validate
 * the config, build the balancer, and print problems the way `fulcrum check`
 * does before exiting 1. Each runtime passes in its own file reader and exit.
 */
import { createBalancer, type BalancerApp } from "../balancer.ts";
import { ConfigError, parseConfig } from "../config/load.ts";
import { listenersOf, type Config, type ListenerConfig } from "../config/schema.ts";
import type { Platform } from "../platform.ts";
import { openStateStore, type StateOpeners } from "../state/open.ts";
import { parseEntryArgs } from "./args.ts";

export interface Boot {
  readonly config: Config;
  readonly app: BalancerApp;
  /** The listeners to serve; `--port` overrides the first one's port. */
  readonly listeners: readonly ListenerConfig[];
}

export async function boot(
  argv: readonly string[],
  readText: (path: string) => Promise<string>,
  platform: Platform,
  exit: (code: number) => never,
  stores: StateOpeners = {},
): Promise<Boot> {
  try {
    const args = parseEntryArgs(argv, platform.env as Record<string, string | undefined>);
    const config = parseConfig(await readText(args.config), args.config);
    const state = await openStateStore(config.state, stores, platform, platform.runtime);
    const app = createBalancer(config, { ...platform, state });
    await app.balancer.ready();
    const listeners = listenersOf(config).map((l, i) => (i === 0 && args.port !== undefined ? { ...l, port: args.port } : l));
    return { config, app, listeners };
  } catch (error) {
    platform.log(error instanceof ConfigError ? error.message : `fulcrum: ${(error as Error).message}`);
    return exit(1);
  }
}

export function listening(runtime: string, listener: ListenerConfig, port: number): string {
  const shown = listener.host === "0.0.0.0" || listener.host === "::" ? "127.0.0.1" : listener.host;
  return `fulcrum (${runtime}) listening on ${listener.protocol === "HTTPS" ? "https" : "http"}://${shown}:${port}`;
}
