/**
 * Start-up shared by the server runtimes (Bun, Deno, Node): read and validate
 * the config, build the balancer, and print problems the way `fulcrum check`
 * does before exiting 1. Each runtime passes in its own file reader and exit.
 * The config file stays the balancer's source: a reload reads it again.
 */
import { type BalancerApp, createBalancer } from "../../app/balancer.ts";
import { type ConfigSource, configVersion, type LoadedConfig } from "../../app/config-source.ts";
import { ConfigError, parseConfig } from "../../config/load.ts";
import { type Config, type ListenerConfig, listenersOf } from "../../config/schema.ts";
import type { Platform } from "../../platform.ts";
import { openStateStore, type StateOpeners } from "../../state/open.ts";
import type { StateStore } from "../../state/store.ts";
import type { HostWorkers } from "../../app/host.ts";
import { type EntryArgs, parseEntryArgs } from "./args.ts";

export interface Boot {
  readonly config: Config;
  readonly app: BalancerApp;
}

/** What the OS said, without the runtime's decoration ("ENOENT: no such file or directory, open '…'" → "no such file or directory"). */
export function osReason(error: unknown): string {
  const code = (error as { code?: string }).code;
  const known: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EISDIR: "is a directory",
    EADDRINUSE: "address already in use",
    EADDRNOTAVAIL: "address not available on this machine",
  };
  return (code && known[code]) ?? (error instanceof Error ? error.message : String(error));
}

/** The one line a failed bind prints: `listen :8080: address already in use` (nginx: `bind() to 0.0.0.0:8080 failed (98: Address already in use)`). */
export function listenFailure(listener: ListenerConfig, port: number, error: unknown): string {
  const host = listener.host === "0.0.0.0" ? "" : listener.host.includes(":") ? `[${listener.host}]` : listener.host;
  const code = (error as { code?: string }).code;
  const reason = code === "EACCES" && port < 1024 ? "permission denied (ports below 1024 need privileges)" : osReason(error);
  return `fulcrum: listen ${host}:${port}: ${reason}`;
}

/** A config's text checked as the file at `path`; `--port` replaces the first listener's port. Throws ConfigError. */
export async function loadConfigText(text: string, path: string, port: number | undefined): Promise<LoadedConfig> {
  const config = parseConfig(text, path);
  const version = await configVersion(text);
  if (port === undefined) return { config, version, text };
  const [first, ...rest] = listenersOf(config);
  const listen = [{ ...first!, port }, ...rest];
  return { config: { ...config, listen: Array.isArray(config.listen) ? listen : listen[0]! }, version, text };
}

/** The config file, read again on each reload. */
export function fileSource(path: string, readText: (path: string) => Promise<string>, port: number | undefined): ConfigSource {
  return {
    location: path,
    shared: false,
    async read(): Promise<LoadedConfig> {
      let text: string;
      try {
        text = await readText(path);
      } catch (error) {
        throw new Error(`cannot read ${path}: ${osReason(error)}`);
      }
      return loadConfigText(text, path, port);
    },
  };
}

export interface BootOptions {
  readonly stores?: StateOpeners;
  /** Whether the runtime can give the admin API a port of its own (not Deno Deploy). Default true. */
  readonly secondPort?: boolean;
  /** This instance's name in the change log and status (`host:pid`). */
  readonly instance?: string;
  /** The store to use instead of opening the config's (a worker's, reached through its primary). */
  readonly store?: (config: Config) => Promise<StateStore>;
  /** Where reloads read the config instead of the file (a worker's: its primary's copy). */
  readonly source?: ConfigSource;
  /** The host's worker processes, when this is one of them or their primary. */
  readonly workers?: HostWorkers;
}

/** The command line and the config it names, read and checked; exits 1 with the problems otherwise. */
export async function readStartConfig(
  argv: readonly string[],
  readText: (path: string) => Promise<string>,
  platform: Platform,
  exit: (code: number) => never,
): Promise<{ readonly args: EntryArgs; readonly loaded: LoadedConfig }> {
  try {
    const args = parseEntryArgs(argv, platform.env as Record<string, string | undefined>);
    return { args, loaded: await fileSource(args.config, readText, args.port).read() };
  } catch (error) {
    platform.log(error instanceof ConfigError ? error.message : `fulcrum: ${(error as Error).message}`);
    return exit(1);
  }
}

/** Open the state store and build the balancer for a config read by `readStartConfig`; exits 1 with why it cannot. */
export async function boot(
  start: { readonly args: EntryArgs; readonly loaded: LoadedConfig },
  readText: (path: string) => Promise<string>,
  platform: Platform,
  exit: (code: number) => never,
  options: BootOptions = {},
): Promise<Boot> {
  try {
    const { config, version } = start.loaded;
    const source = options.source ?? fileSource(start.args.config, readText, start.args.port);
    const state = options.store ? await options.store(config) : await openStateStore(config.state, options.stores ?? {}, platform, platform.runtime);
    const app = createBalancer(config, { ...platform, state }, {
      source,
      version,
      secondPort: options.secondPort ?? true,
      ...(options.instance ? { instance: options.instance } : {}),
      ...(options.workers ? { workers: options.workers } : {}),
    });
    await app.balancer.ready();
    return { config, app };
  } catch (error) {
    platform.log(error instanceof ConfigError ? error.message : `fulcrum: ${(error as Error).message}`);
    return exit(1);
  }
}
