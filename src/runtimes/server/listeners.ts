/**
 * The listeners a server runtime (Bun, Deno, Node) has bound for a balancer:
 * its config's traffic listeners and the admin API's own, by listener key. A
 * reload binds the listeners its config adds before it becomes current, and
 * stops the ones it drops after it is, letting their in-flight requests
 * finish (nginx keeps the sockets a reload keeps and closes the others once
 * their connections are done). Each runtime binds one listener its own way.
 */
import type { ListenerHost } from "../../app/served-apps.ts";
import { adminListenerKey, apiMode } from "../../app/listener.ts";
import { DEFAULT_API_HOST, DEFAULT_API_PORT } from "../../admin/schema.ts";
import { dialHost } from "../../net/host.ts";
import { type Config, type ListenerConfig, listenerKey, listenersOf } from "../../config/schema.ts";
import { listenFailure, osReason } from "./boot.ts";

/** A listener to bind, with its certificate and key read (PEM text) when it is HTTPS. */
export type BootListener = ListenerConfig & { readonly tls?: { readonly cert: string; readonly key: string } };

/** One bound listener, as the runtime hands it back. */
export interface Bound {
  /** The port it got (port 0 asks the system for one). */
  readonly port: number;
  /** Stop accepting; resolves when its in-flight requests have finished. */
  stop(): Promise<void>;
  /** Cut whatever is still open. */
  forceClose(): void;
}

export type Handler = (request: Request, env?: unknown, ctx?: unknown) => Response | Promise<Response>;

export interface ListenerRuntime {
  readonly runtime: string;
  readonly readText: (path: string) => Promise<string>;
  readonly log: (line: string) => void;
  /** Whether it can bind a second port for the admin API (not on Deno Deploy). */
  readonly secondPort: boolean;
  /** Which listeners this process binds: a host's workers the traffic ones, its primary the admin API's. Default all. */
  readonly only?: "all" | "traffic" | "admin";
  /** Bind one listener; rejects (or throws) with the OS's error when it cannot. */
  bind(listener: BootListener, handler: Handler, config: Config): Bound | Promise<Bound>;
}

interface Wanted {
  readonly key: string;
  /** The admin API's own listener, not traffic. */
  readonly admin: boolean;
  readonly listener: ListenerConfig;
  /** What a failure names: `listen[1]`, `admin.api.listen`. */
  readonly at: string;
}

/** A failure to bind, worded for the operator. */
export class BindError extends Error {}

export class ListenerSet implements ListenerHost {
  private readonly bound = new Map<string, { readonly at: string; readonly handle: Bound }>();

  constructor(
    private readonly rt: ListenerRuntime,
    private readonly handler: (key: string) => Handler,
  ) {}

  /** Bind every listener of `config`; rejects with a BindError (having closed what it bound) when one cannot be. */
  async start(config: Config): Promise<void> {
    const added = await this.bindAll(this.wanted(config), config);
    for (const [key, entry] of added) this.bound.set(key, entry);
  }

  async prepare(config: Config) {
    const wanted = this.wanted(config);
    const keys = new Set(wanted.map((w) => w.key));
    const added = await this.bindAll(wanted.filter((w) => !this.bound.has(w.key)), config);
    const removed = [...this.bound.keys()].filter((k) => !keys.has(k));
    return {
      added: [...added.keys()],
      removed,
      commit: async () => {
        for (const [key, entry] of added) this.bound.set(key, entry);
        const stopping = removed.map((key) => {
          const entry = this.bound.get(key)!;
          this.bound.delete(key);
          this.rt.log(`fulcrum (${this.rt.runtime}): ${entry.at} ${key} closing (the reloaded config no longer has it)`);
          return entry.handle.stop();
        });
        await Promise.all(stopping);
      },
      abort: () => {
        for (const entry of added.values()) entry.handle.forceClose();
      },
    };
  }

  /** Stop accepting on every listener; resolves when their in-flight requests have finished. */
  async stopAccepting(): Promise<void> {
    await Promise.all([...this.bound.values()].map((b) => b.handle.stop()));
  }

  forceClose(): void {
    for (const b of this.bound.values()) b.handle.forceClose();
  }

  private wanted(config: Config): Wanted[] {
    const out: Wanted[] = listenersOf(config).map((l, i) => ({ key: listenerKey(l, i), admin: false, listener: l, at: `listen[${i}]` }));
    const mode = apiMode(config, this.rt.secondPort);
    if (mode && "listen" in mode) {
      const { port, host } = mode.listen.listen ?? { port: DEFAULT_API_PORT, host: DEFAULT_API_HOST };
      out.push({ key: adminListenerKey(mode.listen), admin: true, listener: { port, host, protocol: "HTTP" }, at: "admin.api.listen" });
    }
    const only = this.rt.only ?? "all";
    return only === "all" ? out : out.filter((w) => w.admin === (only === "admin"));
  }

  /** Bind each of `wanted`; on the first failure close the ones bound here and reject with its one line. */
  private async bindAll(wanted: readonly Wanted[], config: Config): Promise<Map<string, { at: string; handle: Bound }>> {
    const done = new Map<string, { at: string; handle: Bound }>();
    // Every certificate is read before anything binds, so a missing file is the only line printed.
    const listeners = await Promise.all(wanted.map((w) => this.withCertificate(w)));
    for (const [i, w] of wanted.entries()) {
      try {
        const listener = listeners[i]!;
        const handle = await this.rt.bind(listener, this.handler(w.key), config);
        done.set(w.key, { at: w.at, handle });
        const scheme = w.listener.protocol === "HTTPS" ? "https" : "http";
        const host = dialHost(w.listener.host);
        this.rt.log(
          w.admin
            ? `fulcrum (${this.rt.runtime}) admin API on http://${host}:${handle.port} (fulcrum status --admin http://${host}:${handle.port})`
            : `fulcrum (${this.rt.runtime}) listening on ${scheme}://${host}:${handle.port}${
              host === w.listener.host ? "" : ` (bound to ${w.listener.host.includes(":") ? `[${w.listener.host}]` : w.listener.host}:${handle.port})`
            }`,
        );
      } catch (error) {
        for (const d of done.values()) d.handle.forceClose();
        if (error instanceof BindError) throw error;
        const line = listenFailure(w.listener, w.listener.port, error);
        throw new BindError(
          w.admin
            ? `${line.replace(/^fulcrum: listen/, "fulcrum: admin.api.listen")} (another balancer on this host? set admin.api.listen.port, or admin.api: false)`
            : line,
        );
      }
    }
    return done;
  }

  /** Read before binding, as `nginx -t` opens them, so a missing file is one line naming it. */
  private async withCertificate(w: Wanted): Promise<BootListener> {
    const l = w.listener;
    if (!l.certificate) return l;
    const read = async (field: "certFile" | "keyFile") => {
      const path = l.certificate![field];
      try {
        return await this.rt.readText(path);
      } catch (error) {
        throw new BindError(`fulcrum: ${w.at}.certificate.${field}: cannot read ${path}: ${osReason(error)}`);
      }
    };
    return { ...l, tls: { cert: await read("certFile"), key: await read("keyFile") } };
  }
}
