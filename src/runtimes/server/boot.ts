/**
 * Start-up shared by the server runtimes (Bun, Deno, Node): read and validate
 * the config, build the balancer, and print problems the way `fulcrum check`
 * does before exiting 1. Each runtime passes in its own file reader and exit.
 */
import { type BalancerApp, createBalancer } from "../../app/balancer.ts";
import { ConfigError, parseConfig } from "../../config/load.ts";
import { type Config, type ListenerConfig, listenersOf } from "../../config/schema.ts";
import type { Platform } from "../../platform.ts";
import { openStateStore, type StateOpeners } from "../../state/open.ts";
import { parseEntryArgs } from "./args.ts";

/** A listener to bind, with its certificate and key read (PEM text) when it is HTTPS. */
export type BootListener = ListenerConfig & { readonly tls?: { readonly cert: string; readonly key: string } };

export interface Boot {
  readonly config: Config;
  readonly app: BalancerApp;
  /** The listeners to serve; `--port` overrides the first one's port. */
  readonly listeners: readonly BootListener[];
}

/** A start-up failure already worded for the operator: printed as it is, in one line. */
class StartError extends Error {}

/** Read before anything binds, as `nginx -t` opens them, so a missing file is one line naming it. */
async function withCertificates(listeners: readonly ListenerConfig[], readText: (path: string) => Promise<string>): Promise<BootListener[]> {
  return Promise.all(
    listeners.map(async (l, i) => {
      if (!l.certificate) return l;
      const read = async (field: "certFile" | "keyFile") => {
        const path = l.certificate![field];
        try {
          return await readText(path);
        } catch (error) {
          const at = listeners.length === 1 ? "listen" : `listen[${i}]`;
          throw new StartError(`fulcrum: ${at}.certificate.${field}: cannot read ${path}: ${osReason(error)}`);
        }
      };
      return { ...l, tls: { cert: await read("certFile"), key: await read("keyFile") } };
    }),
  );
}

/** What the OS said, without the runtime's decoration ("ENOENT: no such file or directory, open '…'" → "no such file or directory"). */
function osReason(error: unknown): string {
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
    const listeners = await withCertificates(
      listenersOf(config).map((l, i) => (i === 0 && args.port !== undefined ? { ...l, port: args.port } : l)),
      readText,
    );
    return { config, app, listeners };
  } catch (error) {
    platform.log(error instanceof ConfigError || error instanceof StartError ? error.message : `fulcrum: ${(error as Error).message}`);
    return exit(1);
  }
}

export function listening(runtime: string, listener: ListenerConfig, port: number): string {
  const shown = listener.host === "0.0.0.0" || listener.host === "::" ? "127.0.0.1" : listener.host;
  return `fulcrum (${runtime}) listening on ${listener.protocol === "HTTPS" ? "https" : "http"}://${shown}:${port}`;
}
